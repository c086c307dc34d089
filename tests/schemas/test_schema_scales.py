"""Fixed-point conversions are exact: no floats, no silent rounding, no overflow past an Avro long; and the amount
types let mypy tell a price from a quantity."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mypy import api as mypy_api

from schemas.scales import (
    AVRO_LONG_MAX,
    AVRO_LONG_MIN,
    CASH_SCALE,
    PRICE_DECIMALS,
    PRICE_SCALE,
    QUANTITY_DECIMALS,
    SCALES,
    Price,
    Quantity,
    decimals_of,
    format_fixed,
    from_fixed,
    notional,
    to_fixed,
)
from settings import PROJECT_ROOT


def test_scales() -> None:
    assert PRICE_SCALE == 10**8 == CASH_SCALE
    assert dict(SCALES) == {"price": 8, "quantity": 8, "cash": 8}
    assert decimals_of("cash") == 8
    with pytest.raises(ValueError, match="unknown scale 'yen'"):
        decimals_of("yen")


def test_point_one_plus_point_two_is_exactly_point_three() -> None:
    assert 0.1 + 0.2 != 0.3  # why amounts are never floats
    assert to_fixed("0.1", 8) + to_fixed("0.2", 8) == to_fixed("0.3", 8) == 30_000_000
    assert format_fixed(to_fixed("0.1", 8) + to_fixed("0.2", 8), 8) == "0.3"


@pytest.mark.parametrize(
    ("value", "fixed"),
    [
        ("64250.5", 6_425_050_000_000),
        (Decimal("64250.50"), 6_425_050_000_000),
        (3, 300_000_000),
        ("-1.5", -150_000_000),
        ("0.00000001", 1),
        ("1.000000000000", 100_000_000),  # extra zeros are not extra precision
        ("1e2", 10_000_000_000),
        ("-0", 0),
        ("0E-30", 0),
        ("92233720368.54775807", AVRO_LONG_MAX),
        ("-92233720368.54775808", AVRO_LONG_MIN),
    ],
)
def test_to_fixed(value: str | Decimal | int, fixed: int) -> None:
    assert to_fixed(value, 8) == fixed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.123456789", "0.123456789 has more than 8 decimal places"),
        ("-0.000000001", "-0.000000001 has more than 8 decimal places"),
        ("1e-999999999", "has more than 8 decimal places"),  # refused without building 10**999999999
        ("92233720368.54775808", "does not fit a 64-bit amount at 8 decimals"),
        ("1e999999999", "does not fit a 64-bit amount"),
        (10**12, "does not fit a 64-bit amount"),
        ("NaN", "NaN is not a finite number"),
        ("-Infinity", "-Infinity is not a finite number"),
        ("1,5", "'1,5' is not a decimal number"),
        ("", "'' is not a decimal number"),
    ],
)
def test_to_fixed_refuses(value: str | int, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        to_fixed(value, 8)


@pytest.mark.parametrize("value", [0.5, True, None, b"1"])
def test_to_fixed_refuses_inexact_or_odd_types(value: object) -> None:
    with pytest.raises(TypeError, match="to_fixed takes a str, Decimal or int"):
        to_fixed(value, 8)  # type: ignore[arg-type]


def test_huge_values_stay_exact_beyond_float_and_decimal_context_precision() -> None:
    value = "92233720368.12345678"  # 19 significant digits: a float keeps ~16
    assert to_fixed(value, 8) == 9_223_372_036_812_345_678
    assert format_fixed(to_fixed(value, 8), 8) == value
    assert to_fixed("123456789012345678.9", 1) == 1_234_567_890_123_456_789
    with pytest.raises(ValueError, match="does not fit a 64-bit amount"):  # past an Avro long: refused
        to_fixed("123456789012345678901234567890", 0)


@pytest.mark.parametrize(
    ("fixed", "text"),
    [
        (0, "0"),
        (1, "0.00000001"),
        (150_000_000, "1.5"),
        (-150_000_000, "-1.5"),
        (-1, "-0.00000001"),
        (10_000_000_000, "100"),
        (AVRO_LONG_MIN, "-92233720368.54775808"),
    ],
)
def test_format_fixed(fixed: int, text: str) -> None:
    assert format_fixed(fixed, 8) == text
    assert Decimal(text) == from_fixed(fixed, 8)


def test_from_fixed_and_format_fixed_take_ints_only() -> None:
    with pytest.raises(TypeError, match="fixed-point amounts are ints, not float"):
        from_fixed(1.0, 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decimals must be a non-negative int"):
        format_fixed(1, -1)


def test_notional_is_cash_scale_and_truncates_toward_zero() -> None:
    price = Price(to_fixed("64250.5", PRICE_DECIMALS))
    assert notional(price, Quantity(to_fixed("0.015", QUANTITY_DECIMALS))) == to_fixed("963.7575", 8)
    tiny = Price(to_fixed("0.00000003", 8))
    assert notional(tiny, Quantity(to_fixed("0.5", 8))) == 1  # 0.000000015 -> 0.00000001
    assert notional(tiny, Quantity(to_fixed("-0.5", 8))) == -1  # toward zero, not floor
    assert notional(price, Quantity(0)) == 0


decimals_within_scale = st.decimals(
    min_value=Decimal("-92233720368.54775808"),
    max_value=Decimal("92233720368.54775807"),
    places=8,
    allow_nan=False,
    allow_infinity=False,
)


@given(decimals_within_scale)
def test_round_trip_is_exact(value: Decimal) -> None:
    fixed = to_fixed(value, 8)
    assert from_fixed(fixed, 8) == value
    assert to_fixed(format_fixed(fixed, 8), 8) == fixed
    assert Decimal(format_fixed(fixed, 8)) == value


@given(st.integers(min_value=AVRO_LONG_MIN, max_value=AVRO_LONG_MAX), st.integers(min_value=0, max_value=18))
def test_format_fixed_is_canonical(fixed: int, decimals: int) -> None:
    text = format_fixed(fixed, decimals)
    assert "e" not in text.lower() and not text.endswith(".")
    assert "." not in text or not text.endswith("0")
    assert text != "-0"
    assert to_fixed(text, decimals) == fixed


def test_mypy_tells_a_quantity_passed_as_a_price(tmp_path: Path) -> None:
    snippet = (
        "from processors.portfolio.position import apply_fill, empty_position\n"
        "from schemas.examples import cash, price, qty\n"
        "from schemas.scales import notional\n"
        'p, q, fee = price("100"), qty("2"), cash("0.5")\n'
        "notional(p, q)\n"
        "apply_fill(empty_position(), 'BUY', q, p, fee)\n"
        "notional(q, p)\n"  # line 7: both swapped
        "apply_fill(empty_position(), 'BUY', p, q, fee)\n"  # line 8: both swapped
    )
    config = PROJECT_ROOT / "pyproject.toml"
    report, _, status = mypy_api.run(
        ["--config-file", str(config), "--cache-dir", str(tmp_path), "--no-incremental", "-c", snippet]
    )
    errors = [line for line in report.splitlines() if ": error:" in line]
    assert status == 1
    assert [line.split(":")[1] for line in errors] == ["7", "7", "8", "8"], report
    assert 'incompatible type "Quantity"; expected "Price"' in errors[0]
