"""The one home of fixed-point scales: every price, quantity and cash amount is an integer.

An amount `n` at `d` decimals means the decimal value n / 10**d. Conversions here are exact: they never go
through float, never round silently, and refuse values that do not fit the scale or an Avro long.
Avro fields holding an amount carry `"sq.scale": "<name>"` naming one of `SCALES`.
Kept by hand on purpose: `decimal` does the arithmetic, and no money library checks scale and Avro range as one.

`Price`, `Quantity` and `Cash` (notional, fees, PnL, cash balances) are the amounts as types, so that mypy
tells a quantity passed where a price is due. They are `NewType`s: annotations only, nothing at run time.
An amount read from a record, and what a money function returns, carries its type; a sum or difference of
amounts is a plain int (arithmetic on a NewType gives int), so a function taking a computed amount (a
projected position, today's PnL, a fill's size) takes int. The few functions that produce an amount by
arithmetic (`notional` here, the position and fee functions of the cores) say so with a
`type: ignore[return-value]` on their return: a conversion call there would cost on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, NewType

Price = NewType("Price", int)  # at PRICE_DECIMALS
Quantity = NewType("Quantity", int)  # at QUANTITY_DECIMALS
Cash = NewType("Cash", int)  # at CASH_DECIMALS

PRICE_DECIMALS: Final = 8
QUANTITY_DECIMALS: Final = 8
CASH_DECIMALS: Final = 8  # notional, fees, PnL, cash balances

PRICE_SCALE: Final = 10**PRICE_DECIMALS
QUANTITY_SCALE: Final = 10**QUANTITY_DECIMALS
CASH_SCALE: Final = 10**CASH_DECIMALS

# Scale name (the "sq.scale" attribute in the .avsc files) -> decimals.
SCALES: Final[Mapping[str, int]] = MappingProxyType(
    {"price": PRICE_DECIMALS, "quantity": QUANTITY_DECIMALS, "cash": CASH_DECIMALS}
)

# risk.CheckResult.observed/limit compare different things per check, so their scale is "by-check":
# CHECK_SCALES maps each RiskCheck symbol to the scale of its numbers, or None for plain integers
# (counts, basis points) and for checks that compare no number.
BY_CHECK: Final = "by-check"
CHECK_SCALES: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "SYMBOL_ALLOWED": None,
        "ORDER_QUANTITY": "quantity",
        "ORDER_NOTIONAL": "cash",
        "POSITION": "quantity",
        "OPEN_ORDERS": None,  # number of working orders
        "ORDER_RATE": None,  # commands in the rate window
        "PRICE_COLLAR": None,  # distance from the reference price, basis points
        "DAILY_LOSS": "cash",
        "KILL_SWITCH": None,
        "CIRCUIT_BREAKER": None,
        "TRADING_STATE": None,
    }
)

# price x quantity carries PRICE_DECIMALS + QUANTITY_DECIMALS decimals; cash keeps CASH_DECIMALS.
_NOTIONAL_DIVISOR: Final[int] = 10 ** (PRICE_DECIMALS + QUANTITY_DECIMALS - CASH_DECIMALS)

AVRO_LONG_MIN: Final = -(2**63)
AVRO_LONG_MAX: Final = 2**63 - 1
# More integer digits than an Avro long can hold at any scale: rejected before building huge ints.
_MAX_DIGITS: Final = 40


def decimals_of(scale: str) -> int:
    """Decimals of a named scale ("price", "quantity", "cash")."""
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}") from None


def to_fixed(value: str | Decimal | int, decimals: int) -> int:
    """The exact integer for `value` at `decimals`, e.g. to_fixed("0.3", 8) == 30_000_000.

    Raises ValueError when the value is not a finite decimal number, has more decimal places than the scale
    (it would need rounding), or does not fit an Avro long; TypeError for floats, which are never exact.
    """
    _check_decimals(decimals)
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise TypeError(
            f"to_fixed takes a str, Decimal or int, not {type(value).__name__} ({value!r}): "
            "floats are not exact; pass the decimal string instead"
        )
    if isinstance(value, int):
        return _in_long_range(value * 10**decimals, value, decimals)
    number = _parse_decimal(value)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        return 0
    # Exponents are checked before any power of ten is built: "1e-999999999" must not hang.
    shift = exponent + decimals
    if len(digits) + exponent > _MAX_DIGITS:
        raise ValueError(_out_of_range(value, decimals))
    if shift >= 0:
        fixed = coefficient * 10**shift
    elif -shift >= len(digits):  # every significant digit lies beyond the scale
        raise ValueError(_too_fine(value, decimals))
    else:
        fixed, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(_too_fine(value, decimals))
    return _in_long_range(-fixed if sign else fixed, value, decimals)


def from_fixed(n: int, decimals: int) -> Decimal:
    """The exact Decimal an integer amount at `decimals` stands for."""
    _check_int(n)
    _check_decimals(decimals)
    return Decimal(f"{n}E-{decimals}")  # built from the string: exact, no context rounding


def format_fixed(n: int, decimals: int) -> str:
    """Canonical decimal string: no exponent, no trailing zeros, "0" for zero, e.g. 150000000 -> "1.5"."""
    _check_int(n)
    _check_decimals(decimals)
    whole, fraction = divmod(abs(n), 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0")
    text = f"{whole}.{digits}" if digits else str(whole)
    return f"-{text}" if n < 0 else text


def notional(price_fp: Price, qty_fp: Quantity) -> Cash:
    """price x quantity in cash scale, with integer arithmetic only.

    The exact product has PRICE_DECIMALS + QUANTITY_DECIMALS decimals; digits beyond CASH_DECIMALS are
    dropped, truncating toward zero (so a short's notional rounds the same way as a long's).
    """
    if type(price_fp) is not int or type(qty_fp) is not int:  # the hot path's one test; bool is refused below
        _check_int(price_fp)
        _check_int(qty_fp)
    product = price_fp * qty_fp
    return product // _NOTIONAL_DIVISOR if product >= 0 else -(-product // _NOTIONAL_DIVISOR)  # type: ignore[return-value]  # made here


def _parse_decimal(value: str | Decimal) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    return number


def _in_long_range(fixed: int, value: object, decimals: int) -> int:
    if not AVRO_LONG_MIN <= fixed <= AVRO_LONG_MAX:
        raise ValueError(_out_of_range(value, decimals))
    return fixed


def _too_fine(value: object, decimals: int) -> str:
    return f"{value} has more than {decimals} decimal places"


def _out_of_range(value: object, decimals: int) -> str:
    limit = format_fixed(AVRO_LONG_MAX, decimals)
    return f"{value} does not fit a 64-bit amount at {decimals} decimals (largest magnitude {limit})"


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative int, not {decimals!r}")


def _check_int(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"fixed-point amounts are ints, not {type(n).__name__} ({n!r})")
