"""Position arithmetic: pure functions over a JSON-able position dict, shared by the portfolio and risk.

All amounts are fixed-point integers (``schemas.scales``): quantities at QUANTITY_DECIMALS, prices at
PRICE_DECIMALS, cash (PnL, fees, cash balance) at CASH_DECIMALS. Nothing here ever touches a float.

A position dict holds:

- ``quantity``: signed quantity, positive long, negative short.
- ``avg_price``: average entry price of the open position, ``None`` when flat. Derived from the exact
  cost basis and rounded **half-even** at the price scale.
- ``realized_pnl``: PnL of closing trades, fees excluded, cash scale, rounded half-even from the exact value.
- ``fees``: fees paid in total (negative for net rebates), cash scale.
- ``cash``: cash flow of the fills: ``-notional`` for a buy, ``+notional`` for a sell, minus the fee, where
  ``notional`` is ``schemas.scales.notional`` (truncated toward zero per fill, the ledger's rounding).
- ``fill_count``: fills applied.
- ``open_cost`` and ``realized_exact``: the exact signed cost basis of the open position and the exact
  realized PnL, both at PRICE_DECIMALS + QUANTITY_DECIMALS decimals (price x quantity, no rounding). They make
  PnL exact: rounding happens once, when a cash-scale number is read out, and never accumulates. When a
  position is partly closed, the closed share of the cost basis is ``open_cost * closed / |quantity|``
  rounded half-even at that 16-decimal scale (an error of at most 1e-16 per partial close); closing the
  rest removes the remaining cost exactly, so a round trip that ends flat has exactly
  ``sum(sell price x qty) - sum(buy price x qty)`` as realized PnL.

Other keys of the dict (e.g. ``last_fill_id``, ``last_fill_price`` kept by the portfolio) are carried along
unchanged. A dict that lacks ``open_cost`` / ``realized_exact`` (e.g. built from a ``Position`` record) is
accepted: they are then derived from ``avg_price x quantity`` and ``realized_pnl``.
"""

from __future__ import annotations

from typing import Any, Final

from schemas.scales import CASH_DECIMALS, PRICE_DECIMALS, QUANTITY_DECIMALS, Cash, Price, Quantity, notional

Position = dict[str, Any]

BUY: Final = "BUY"
SELL: Final = "SELL"

# Exact products (price x quantity) carry this many decimals; dividing by _TO_CASH gives the cash scale.
EXACT_DECIMALS: Final = PRICE_DECIMALS + QUANTITY_DECIMALS
_TO_CASH: Final = 10 ** (EXACT_DECIMALS - CASH_DECIMALS)
_NO_CASH: Final = Cash(0)


def empty_position() -> Position:
    """A flat position with no history."""
    return {
        "quantity": 0,
        "avg_price": None,
        "realized_pnl": 0,
        "fees": 0,
        "cash": 0,
        "fill_count": 0,
        "open_cost": 0,
        "realized_exact": 0,
    }


def div_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties to even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)  # remainder in [0, denominator)
    twice = remainder << 1
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return quotient


def apply_fill(position: Position, side: str, quantity: Quantity, price: Price, fee: Cash) -> Position:
    """The position after one fill of ``quantity`` (> 0) at ``price`` on ``side`` ("BUY"/"SELL") paying ``fee``.

    Returns a new dict; ``position`` is not modified. Raises ValueError on a bad side or a non-positive
    quantity.
    """
    signed: int
    if side == BUY:
        signed = quantity
    elif side == SELL:
        signed = -quantity
    else:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    if quantity <= 0:
        raise ValueError(f"fill quantity must be positive, not {quantity}")

    old_qty: int = position["quantity"]
    open_cost = position.get("open_cost")
    realized_exact = position.get("realized_exact")
    if open_cost is None or realized_exact is None:
        open_cost, realized_exact = _exact_parts(position)

    if old_qty == 0 or (old_qty > 0) == (signed > 0):
        # Opening or adding: the cost basis grows by the exact traded amount (price x quantity, EXACT_DECIMALS).
        new_qty = old_qty + signed
        open_cost += price * signed
    else:
        held = old_qty if old_qty > 0 else -old_qty
        closed = quantity if quantity < held else held
        removed = open_cost if closed == held else div_half_even(open_cost * closed, held)
        closed_value = price * closed
        # Long closed by a sale: proceeds - cost. Short closed by a purchase: |cost| - outlay.
        realized_exact += (closed_value - removed) if old_qty > 0 else (-closed_value - removed)
        open_cost -= removed
        new_qty = old_qty + signed
        opened = quantity - closed
        if opened:  # flipped: the rest opens a new position at this fill's price
            open_cost = price * opened if signed > 0 else -price * opened

    cash_flow = notional(price, quantity)
    if not new_qty:
        open_cost = 0
    return {
        **position,
        "quantity": new_qty,
        "avg_price": div_half_even(abs(open_cost), abs(new_qty)) if new_qty else None,
        "open_cost": open_cost,
        "realized_exact": realized_exact,
        "realized_pnl": div_half_even(realized_exact, _TO_CASH),
        "fees": position["fees"] + fee,
        "cash": position["cash"] + (-cash_flow if signed > 0 else cash_flow) - fee,
        "fill_count": position["fill_count"] + 1,
    }


def unrealized_pnl(position: Position, mark_price: Price) -> Cash:
    """PnL of the open position at ``mark_price``, cash scale, rounded half-even from the exact value.

    ``mark x quantity - cost basis``: positive when a long's mark is above its cost or a short's below it.
    """
    qty: int = position["quantity"]
    if qty == 0:
        return _NO_CASH
    open_cost = position.get("open_cost")
    if open_cost is None:
        open_cost, _ = _exact_parts(position)
    return div_half_even(mark_price * qty - open_cost, _TO_CASH)  # type: ignore[return-value]  # made here (schemas.scales)


def _exact_parts(position: Position) -> tuple[int, int]:
    """(open_cost, realized_exact) of a position, derived from the rounded fields when absent."""
    open_cost = position.get("open_cost")
    if open_cost is None:
        avg = position.get("avg_price")
        open_cost = avg * position["quantity"] if avg is not None else 0
    realized_exact = position.get("realized_exact")
    if realized_exact is None:
        realized_exact = position["realized_pnl"] * _TO_CASH
    return int(open_cost), int(realized_exact)
