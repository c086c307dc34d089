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

from schemas.scales import CASH_DECIMALS, QUANTITY_DECIMALS, Cash, Price, Quantity

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

assert CASH_DECIMALS == QUANTITY_DECIMALS  # one 8-decimal format is shared by every amount below
_SCALE: Final = 10**CASH_DECIMALS
_FRACTION: Final = f"0{CASH_DECIMALS}d"
# Formatted amounts by value: a detail formats up to ten per order and most repeat (limits, quantities,
# prices near the mids), so a lookup replaces the arithmetic. Bounded: emptied when full.
_FORMATTED: Final[dict[int, str]] = {}
_FORMATTED_KEPT: Final = 4096


def _format(n: int) -> str:
    """A fixed-point amount in decimal units: 150000000 at 8 decimals -> "1.5" (no float involved)."""
    whole, fraction = divmod(abs(n), _SCALE)
    sign = "-" if n < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:{_FRACTION}}".rstrip("0")  # a non-zero fraction keeps a digit after "."


def amount(n: int) -> str:
    """``_format(n)``, remembered."""
    text = _FORMATTED.get(n)
    if text is None:
        if len(_FORMATTED) >= _FORMATTED_KEPT:
            _FORMATTED.clear()
        text = _FORMATTED[n] = _format(n)
    return text


qty = cash = price = amount  # quantity, cash and price share the 8-decimal scale (asserted above)


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
# They run eleven times per order, so what repeats is not rebuilt: a pass that depends on nothing is one
# constant result, and the checks whose inputs take few values (trading state, the order's quantity against
# its limit, the open order count, the token bucket's count) remember their results by those inputs. A
# result is therefore shared between decisions, like the command a decision carries: a decision's records
# are never modified once emitted. The checks of prices and PnL are built each time: their inputs rarely
# repeat in a live stream. Each result is one dict literal; its detail formats each amount once.

# Remembered results per check, by their inputs; bounded (emptied when full): at most 4,096 results of about
# 400 bytes per check.
_KEPT: Final = 4096


def _remember(table: dict[Any, CheckResult], key: Any, result: CheckResult) -> CheckResult:
    if len(table) >= _KEPT:
        table.clear()
    table[key] = result
    return result


_NO_KILL_SWITCH: Final[CheckResult] = {
    "check": KILL_SWITCH,
    "passed": True,
    "observed": None,
    "limit": None,
    "detail": "no kill switch active",
}
_NO_BREAKER: Final[CheckResult] = {
    "check": CIRCUIT_BREAKER,
    "passed": True,
    "observed": None,
    "limit": None,
    "detail": "no circuit breaker tripped",
}
_EVERY_SYMBOL: Final[CheckResult] = {
    "check": SYMBOL_ALLOWED,
    "passed": True,
    "observed": None,
    "limit": None,
    "detail": "every symbol allowed",
}
_TRADING_STATES: Final[dict[tuple[str, bool], CheckResult]] = {}
_QUANTITIES: Final[dict[tuple[int, int], CheckResult]] = {}
_OPEN_ORDERS: Final[dict[tuple[int, int], CheckResult]] = {}
_RATES: Final[dict[tuple[int, int, int], CheckResult]] = {}


def kill_switch(active: list[str]) -> CheckResult:
    """Denied while a kill switch covers the order; ``active`` names the switches in force ("GLOBAL", ...)."""
    if active:
        detail = f"kill switch active: {', '.join(active)}"
        return {"check": KILL_SWITCH, "passed": False, "observed": None, "limit": None, "detail": detail}
    return _NO_KILL_SWITCH


def trading_state(state: str, reduces: bool) -> CheckResult:
    """HALTED denies every order; REDUCE_ONLY denies orders that do not reduce the position."""
    result = _TRADING_STATES.get((state, reduces))
    if result is not None:
        return result
    passed = True
    if state == HALTED:
        passed, detail = False, "HALTED: the account is halted"
    elif state == REDUCE_ONLY:
        if reduces:
            detail = "REDUCE_ONLY and the order reduces the position"
        else:
            passed, detail = False, f"{_REDUCE_ONLY_PREFIX} the order would increase |position|"
    else:
        detail = f"trading state {state}"
    result = {"check": TRADING_STATE, "passed": passed, "observed": None, "limit": None, "detail": detail}
    return _remember(_TRADING_STATES, (state, reduces), result)


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
        detail = f"circuit breaker tripped: {', '.join(blocking)}"
        return {"check": CIRCUIT_BREAKER, "passed": False, "observed": None, "limit": None, "detail": detail}
    return _NO_BREAKER


def symbol_allowed(symbol: str, allowed: list[str]) -> CheckResult:
    """The symbol must be in ``allowed``; an empty list allows every symbol."""
    if not allowed:
        return _EVERY_SYMBOL
    passed = True
    if symbol in allowed:
        detail = f"{symbol} allowed"
    else:
        passed, detail = False, f"{symbol} not in allowed symbols {', '.join(allowed)}"
    return {"check": SYMBOL_ALLOWED, "passed": passed, "observed": None, "limit": None, "detail": detail}


def order_quantity(quantity: Quantity, limit: Quantity) -> CheckResult:
    """The order's quantity must not exceed the limit (quantity scale)."""
    result = _QUANTITIES.get((quantity, limit))
    if result is not None:
        return result
    passed = quantity <= limit
    detail = f"quantity {qty(quantity)} {'<=' if passed else '>'} limit {qty(limit)}"
    result = {"check": ORDER_QUANTITY, "passed": passed, "observed": quantity, "limit": limit, "detail": detail}
    return _remember(_QUANTITIES, (quantity, limit), result)


def order_notional(value: Cash | None, limit: Cash, basis: str) -> CheckResult:
    """notional(price, quantity) must not exceed the limit (cash scale); ``None`` = no price to value it at.

    ``basis`` says which price valued it ("limit price", "last trade", ...). Without any price the
    notional is unknown, hence unbounded: denied.
    """
    if value is None:
        detail = f"notional unknown: no price and {basis}"
        return {"check": ORDER_NOTIONAL, "passed": False, "observed": None, "limit": limit, "detail": detail}
    passed = value <= limit
    detail = f"notional {cash(value)} {'<=' if passed else '>'} limit {cash(limit)} ({basis})"
    return {"check": ORDER_NOTIONAL, "passed": passed, "observed": value, "limit": limit, "detail": detail}


def position(projected: int, limit: Quantity) -> CheckResult:
    """|position + working orders of the order's side + this order| must not exceed the limit (quantity scale)."""
    observed = projected if projected >= 0 else -projected
    passed = observed <= limit
    detail = f"position if all fill {qty(projected)}, |.| {'<=' if passed else '>'} limit {qty(limit)}"
    return {"check": POSITION, "passed": passed, "observed": observed, "limit": limit, "detail": detail}


def open_orders(count_with_this: int, limit: int) -> CheckResult:
    """Working orders, this one included, must not exceed the limit."""
    result = _OPEN_ORDERS.get((count_with_this, limit))
    if result is not None:
        return result
    passed = count_with_this <= limit
    detail = f"open orders {count_with_this} {'<=' if passed else '>'} limit {limit}"
    result = {"check": OPEN_ORDERS, "passed": passed, "observed": count_with_this, "limit": limit, "detail": detail}
    return _remember(_OPEN_ORDERS, (count_with_this, limit), result)


def price_collar(
    order_price: Price | None, reference: Price | None, reference_name: str, limit_bps: int
) -> CheckResult:
    """|price - reference| / reference must be within ``limit_bps``; passes without a price or a reference.

    ``observed`` is the distance in basis points rounded up, so ``observed <= limit`` exactly when the
    unrounded distance is within the collar.
    """
    if order_price is None:
        return {"check": PRICE_COLLAR, "passed": True, "observed": None, "limit": limit_bps, "detail": "no limit price"}
    if reference is None or reference <= 0:
        return {"check": PRICE_COLLAR, "passed": True, "observed": None, "limit": limit_bps, "detail": "no reference"}
    distance = abs(order_price - reference) * 10_000
    bps = -(-distance // reference)  # ceiling
    passed = distance <= limit_bps * reference
    detail = (
        f"price {price(order_price)} is {bps} bps from {reference_name} {price(reference)}"
        f"{', collar' if passed else ' > collar'} {limit_bps} bps"
    )
    return {"check": PRICE_COLLAR, "passed": passed, "observed": bps, "limit": limit_bps, "detail": detail}


def daily_loss(pnl_today: int, loss_limit: Cash, reduces: bool) -> CheckResult:
    """Today's realized PnL (net of fees) must be >= -loss_limit, unless the order only reduces the position.

    ``observed`` is the PnL and ``limit`` is ``-loss_limit`` (cash scale).
    """
    floor = -loss_limit
    passed = True
    if pnl_today >= floor:
        detail = f"realized PnL today {cash(pnl_today)} >= {cash(floor)}"
    elif reduces:
        detail = f"realized PnL today {cash(pnl_today)} < {cash(floor)}, but the order reduces the position"
    else:
        passed, detail = False, f"realized PnL today {cash(pnl_today)} < {cash(floor)}"
    return {"check": DAILY_LOSS, "passed": passed, "observed": pnl_today, "limit": floor, "detail": detail}


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
    result = _RATES.get((observed, per_second, burst))
    if result is not None:
        return result
    passed = tokens >= TOKEN  # exactly when observed <= burst: the result is a function of (observed, burst)
    detail = f"{observed} orders in the bucket {'<=' if passed else '>'} burst {burst} ({per_second}/s)"
    result = {"check": ORDER_RATE, "passed": passed, "observed": observed, "limit": burst, "detail": detail}
    return _remember(_RATES, (observed, per_second, burst), result)
