"""Decimal strings ↔ fixed-point ints at the scales of schemas/scales.py, for request and response models.

Amounts travel as JSON strings ("0.015"), never JSON numbers: a number is a float to most JSON parsers and
is refused here (422) rather than rounded. A string finer than the scale is refused too, never rounded.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, SCALES, format_fixed, to_fixed

_PLAIN_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"  # no sign, exponent, spaces or "NaN": plain positional notation
_SIGNED_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"


def _checked(scale: str, positive: bool) -> AfterValidator:
    decimals = SCALES[scale]

    def check(text: str) -> str:
        value = to_fixed(text, decimals)  # ValueError (finer than the scale, too large) → 422 with its message
        if positive and value <= 0:
            raise ValueError("must be greater than 0")
        return text

    return AfterValidator(check)


def _amount(scale: str, positive: bool, example: str, signed: bool = False) -> object:
    decimals = SCALES[scale]
    return Field(
        pattern=_SIGNED_DECIMAL if signed else _PLAIN_DECIMAL,
        max_length=40,
        description=f"Decimal string, at most {decimals} decimal places ({scale} scale); never a JSON number.",
        examples=[example],
    )


Quantity = Annotated[str, _amount("quantity", True, "0.5"), _checked("quantity", positive=True)]
Price = Annotated[str, _amount("price", True, "60000.25"), _checked("price", positive=True)]
Cash = Annotated[str, _amount("cash", True, "1000000"), _checked("cash", positive=True)]
CashOrZero = Annotated[str, _amount("cash", False, "0"), _checked("cash", positive=False)]
PriceOffset = Annotated[str, _amount("price", False, "-0.5", signed=True), _checked("price", positive=False)]


def quantity_fp(text: str) -> int:
    return to_fixed(text, QUANTITY_DECIMALS)


def price_fp(text: str) -> int:
    return to_fixed(text, PRICE_DECIMALS)


def fp(text: str, scale: str) -> int:
    return to_fixed(text, SCALES[scale])


def text(value: int, scale: str) -> str:
    return format_fixed(value, SCALES[scale])


def maybe_text(value: int | None, scale: str) -> str | None:
    return None if value is None else format_fixed(value, SCALES[scale])
