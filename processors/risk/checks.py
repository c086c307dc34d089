"""The pre-trade checks, each a small pure function returning a ``CheckResult`` dict.

A ``CheckResult`` is ``{check, passed, observed, limit, detail}`` (``shrivenquant.risk.CheckResult``):
``observed`` and ``limit`` are the integers the check compared, in the unit ``schemas.scales.CHECK_SCALES``
gives for the check (quantity or cash fixed-point, or plain counts / basis points), ``None`` when the check
compares no number. ``detail`` says it in words, amounts in decimal units, e.g. "quantity 1500 > limit 1000".

Also here: the token bucket of the ORDER_RATE check (integer arithmetic on event-time microseconds), the
"does this order reduce the position" rule shared by REDUCE_ONLY, breakers and DAILY_LOSS, and
``reason_for``, the ``RejectReason`` a failing check denies with.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.scales import CASH_DECIMALS, QUANTITY_DECIMALS

CheckResult = dict[str, Any]

# RiskCheck symbols.
KILL_SWITCH: Final = "KILL_SWITCH"
TRADING_STATE: Final = "TRADING_STATE"
CIRCUIT_BREAKER: Final = "CIRCUIT_BREAKER"
SYMBOL_ALLOWED: Final = "SYMBOL_ALLOWED"
ORDER_QUANTITY: Final = "ORDER_QUANTITY"
ORDER_NOTIONAL: Final = "ORDER_NOTIONAL"
POSITION: Final = "POSITION"
OPEN_ORDERS: Final = "OPEN_ORDERS"
ORDER_RATE: Final = "ORDER_RATE"
PRICE_COLLAR: Final = "PRICE_COLLAR"
DAILY_LOSS: Final = "DAILY_LOSS"

# TradingState symbols.
ACTIVE: Final = "ACTIVE"
REDUCE_ONLY: Final = "REDUCE_ONLY"
HALTED: Final = "HALTED"

# The RejectReason a failing check denies with (TRADING_STATE: see reason_for).
REASONS: Final[dict[str, str]] = {
    KILL_SWITCH: "KILL_SWITCH",
    TRADING_STATE: "TRADING_HALTED",
    CIRCUIT_BREAKER: "CIRCUIT_BREAKER",
    SYMBOL_ALLOWED: "SYMBOL_NOT_ALLOWED",
    ORDER_QUANTITY: "QUANTITY_LIMIT",
    ORDER_NOTIONAL: "NOTIONAL_LIMIT",
    POSITION: "POSITION_LIMIT",
    OPEN_ORDERS: "MAX_OPEN_ORDERS",
    ORDER_RATE: "RATE_LIMIT",
    PRICE_COLLAR: "PRICE_COLLAR",
    DAILY_LOSS: "DAILY_LOSS_LIMIT",
}

_REDUCE_ONLY_PREFIX: Final = "REDUCE_ONLY:"


def reason_for(result: CheckResult) -> str:
    """The RejectReason of a failing check: its check's reason; TRADING_STATE is REDUCE_ONLY or TRADING_HALTED."""
    check: str = result["check"]
    if check == TRADING_STATE and result["detail"].startswith(_REDUCE_ONLY_PREFIX):
        return "REDUCE_ONLY"
    return REASONS[check]


# -- formatting -------------------------------------------------------------------------------------


def _fmt(n: int, decimals: int) -> str:
    """A fixed-point amount in decimal units: 150000000 at 8 decimals -> "1.5" (no float involved)."""
    scale = 10**decimals
    whole, fraction = divmod(abs(n), scale)
    sign = "-" if n < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(fraction).rjust(decimals, '0').rstrip('0')}"


def qty(n: int) -> str:
    return _fmt(n, QUANTITY_DECIMALS)


def cash(n: int) -> str:
    return _fmt(n, CASH_DECIMALS)


price = cash  # PRICE_DECIMALS == CASH_DECIMALS; spelled separately where it reads better
assert CASH_DECIMALS == QUANTITY_DECIMALS  # _fmt at 8 decimals is shared by every amount below


def _result(check: str, passed: bool, observed: int | None, limit: int | None, detail: str) -> CheckResult:
    return {"check": check, "passed": passed, "observed": observed, "limit": limit, "detail": detail}


# -- the order's effect on the position -------------------------------------------------------------


def reduces_position(position: int, same_side_open: int, signed_quantity: int) -> bool:
    """Whether an order only reduces the position, even if it and every working order of its side fill.

    ``position`` is signed; ``same_side_open`` is the signed working quantity of the order's side (not counting
    this order); ``signed_quantity`` is the order's signed quantity. True when the order opposes the position
    and all of that side's orders together neither exceed it nor flip it.
    """
    if position == 0 or (position > 0) == (signed_quantity > 0):
        return False
    return abs(same_side_open + signed_quantity) <= abs(position)


# -- the checks, in the order they run --------------------------------------------------------------


def kill_switch(active: list[str]) -> CheckResult:
    """Denied while a kill switch covers the order; ``active`` names the switches in force ("GLOBAL", ...)."""
    if active:
        return _result(KILL_SWITCH, False, None, None, f"kill switch active: {', '.join(active)}")
    return _result(KILL_SWITCH, True, None, None, "no kill switch active")


def trading_state(state: str, reduces: bool) -> CheckResult:
    """HALTED denies every order; REDUCE_ONLY denies orders that do not reduce the position."""
    if state == HALTED:
        return _result(TRADING_STATE, False, None, None, "HALTED: the account is halted")
    if state == REDUCE_ONLY:
        if reduces:
            return _result(TRADING_STATE, True, None, None, "REDUCE_ONLY and the order reduces the position")
        return _result(TRADING_STATE, False, None, None, f"{_REDUCE_ONLY_PREFIX} the order would increase |position|")
    return _result(TRADING_STATE, True, None, None, f"trading state {state}")


def circuit_breaker(tripped: list[tuple[str, str, int | None]], now_us: int, reduces: bool) -> CheckResult:
    """Denied while a tripped breaker covers the order and its cool-down has not ended.

    ``tripped``: (name, trading state it imposes, cool-down end or None for manual reset) of each tripped
    breaker covering the order. A breaker imposing REDUCE_ONLY lets reducing orders through.
    """
    blocking = []
    for name, state, until in tripped:
        if until is not None and now_us >= until:
            continue
        if state == ACTIVE or (state == REDUCE_ONLY and reduces):
            continue
        blocking.append(f"{name} ({state}, " + ("manual reset)" if until is None else f"until {until} us)"))
    if blocking:
        return _result(CIRCUIT_BREAKER, False, None, None, f"circuit breaker tripped: {', '.join(blocking)}")
    return _result(CIRCUIT_BREAKER, True, None, None, "no circuit breaker tripped")


def symbol_allowed(symbol: str, allowed: list[str]) -> CheckResult:
    """The symbol must be in ``allowed``; an empty list allows every symbol."""
    if not allowed:
        return _result(SYMBOL_ALLOWED, True, None, None, "every symbol allowed")
    if symbol in allowed:
        return _result(SYMBOL_ALLOWED, True, None, None, f"{symbol} allowed")
    return _result(SYMBOL_ALLOWED, False, None, None, f"{symbol} not in allowed symbols {', '.join(allowed)}")


def order_quantity(quantity: int, limit: int) -> CheckResult:
    """The order's quantity must not exceed the limit (quantity scale)."""
    if quantity <= limit:
        return _result(ORDER_QUANTITY, True, quantity, limit, f"quantity {qty(quantity)} <= limit {qty(limit)}")
    return _result(ORDER_QUANTITY, False, quantity, limit, f"quantity {qty(quantity)} > limit {qty(limit)}")


def order_notional(value: int | None, limit: int, basis: str) -> CheckResult:
    """notional(price, quantity) must not exceed the limit (cash scale); ``None`` = no price to value it at.

    ``basis`` says which price valued it ("limit price", "last trade", ...). Without any price the
    notional is unknown, hence unbounded: denied.
    """
    if value is None:
        return _result(ORDER_NOTIONAL, False, None, limit, f"notional unknown: no price and {basis}")
    if value <= limit:
        return _result(ORDER_NOTIONAL, True, value, limit, f"notional {cash(value)} <= limit {cash(limit)} ({basis})")
    return _result(ORDER_NOTIONAL, False, value, limit, f"notional {cash(value)} > limit {cash(limit)} ({basis})")


def position(projected: int, limit: int) -> CheckResult:
    """|position + working orders of the order's side + this order| must not exceed the limit (quantity scale)."""
    observed = abs(projected)
    if observed <= limit:
        return _result(
            POSITION, True, observed, limit, f"position if all fill {qty(projected)}, |.| <= limit {qty(limit)}"
        )
    return _result(POSITION, False, observed, limit, f"position if all fill {qty(projected)}, |.| > limit {qty(limit)}")


def open_orders(count_with_this: int, limit: int) -> CheckResult:
    """Working orders, this one included, must not exceed the limit."""
    if count_with_this <= limit:
        return _result(OPEN_ORDERS, True, count_with_this, limit, f"open orders {count_with_this} <= limit {limit}")
    return _result(OPEN_ORDERS, False, count_with_this, limit, f"open orders {count_with_this} > limit {limit}")


def price_collar(order_price: int | None, reference: int | None, reference_name: str, limit_bps: int) -> CheckResult:
    """|price - reference| / reference must be within ``limit_bps``; passes without a price or a reference.

    ``observed`` is the distance in basis points rounded up, so ``observed <= limit`` exactly when the
    unrounded distance is within the collar.
    """
    if order_price is None:
        return _result(PRICE_COLLAR, True, None, limit_bps, "no limit price")
    if reference is None or reference <= 0:
        return _result(PRICE_COLLAR, True, None, limit_bps, "no reference")
    distance = abs(order_price - reference) * 10_000
    bps = -(-distance // reference)  # ceiling
    text = f"price {price(order_price)} is {bps} bps from {reference_name} {price(reference)}"
    if distance <= limit_bps * reference:
        return _result(PRICE_COLLAR, True, bps, limit_bps, f"{text}, collar {limit_bps} bps")
    return _result(PRICE_COLLAR, False, bps, limit_bps, f"{text} > collar {limit_bps} bps")


def daily_loss(pnl_today: int, loss_limit: int, reduces: bool) -> CheckResult:
    """Today's realized PnL (net of fees) must be >= -loss_limit, unless the order only reduces the position.

    ``observed`` is the PnL and ``limit`` is ``-loss_limit`` (cash scale).
    """
    floor = -loss_limit
    if pnl_today >= floor:
        return _result(DAILY_LOSS, True, pnl_today, floor, f"realized PnL today {cash(pnl_today)} >= {cash(floor)}")
    text = f"realized PnL today {cash(pnl_today)} < {cash(floor)}"
    if reduces:
        return _result(DAILY_LOSS, True, pnl_today, floor, f"{text}, but the order reduces the position")
    return _result(DAILY_LOSS, False, pnl_today, floor, text)


# -- ORDER_RATE: a token bucket on event time -------------------------------------------------------

TOKEN: Final = 1_000_000  # one order, in micro-tokens: a rate of r/s refills r micro-tokens per microsecond


def refill(tokens: int, tokens_at_us: int, now_us: int, per_second: int, burst: int) -> tuple[int, int]:
    """The bucket (micro-tokens, as of when) at ``now_us``: refilled at ``per_second``, capped at ``burst``.

    Integer arithmetic only: ``elapsed_us * per_second`` micro-tokens are exactly ``per_second`` tokens per
    second. Event time going backwards refills nothing and keeps the later time.
    """
    capacity = burst * TOKEN
    if now_us > tokens_at_us:
        tokens += (now_us - tokens_at_us) * per_second
        tokens_at_us = now_us
    return min(tokens, capacity), tokens_at_us


def order_rate(tokens: int, per_second: int, burst: int) -> CheckResult:
    """An order needs one whole token. ``observed`` = orders in the bucket with this one, ``limit`` = burst."""
    used = -(-(burst * TOKEN - tokens) // TOKEN)  # whole tokens taken, rounded up
    observed = used + 1
    if tokens >= TOKEN:
        return _result(
            ORDER_RATE, True, observed, burst, f"{observed} orders in the bucket <= burst {burst} ({per_second}/s)"
        )
    return _result(
        ORDER_RATE, False, observed, burst, f"{observed} orders in the bucket > burst {burst} ({per_second}/s)"
    )
