"""Exact decimal strings → fixed-point ints, fast for the plain form venues send ("60000.10", "0.001").

Plain digits with an optional fraction of at most ``decimals`` places are parsed with integer arithmetic;
everything else (signs, exponents, too many places, junk) goes to ``schemas.scales.to_fixed``, which is
exact and says precisely what is wrong. Both paths give the same int: never a float in between.
"""

from __future__ import annotations

import re
from functools import lru_cache

from schemas.scales import AVRO_LONG_MAX, to_fixed

_PLAIN = re.compile(r"(\d{1,18})(?:\.(\d{0,18}))?")  # short enough that the result fits a long (checked)


@lru_cache(maxsize=1 << 16)  # prices and sizes repeat a lot in a stream
def parse_amount(text: str, decimals: int) -> int:
    """``text`` at ``decimals`` places, exactly; ValueError when it is not a decimal number that fits."""
    match = _PLAIN.fullmatch(text)
    if match is not None:
        whole, fraction = match.group(1), match.group(2) or ""
        if len(fraction) <= decimals:
            value: int = int(whole) * 10**decimals + (int(fraction.ljust(decimals, "0")) if decimals else 0)
            if value <= AVRO_LONG_MAX:
                return value
    return to_fixed(text, decimals)
