"""VWAP's volume profiles: the default curve shipped with the router, and a curve's share per slice.

A curve is a list of non-negative weights over equal buckets of the parent's horizon (start to end): bucket
*i* of *n* covers the horizon's fraction [i/n, (i+1)/n). The default, ``volume_profile.json``, was made by
``python -m connectors.marketdata.volume_profile`` from the shipped sample session's ``md.trades`` (each
symbol's traded quantity in equal time buckets of the session, as shares of its total, averaged over the
symbols): a synthetic session, so a user with a real intraday curve passes it in ``params.profile``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Final

PROFILE_FILE: Final = "volume_profile.json"


def load_default() -> tuple[float, ...]:
    document = json.loads(resources.files(__package__).joinpath(PROFILE_FILE).read_text(encoding="utf-8"))
    return tuple(float(weight) for weight in document["weights"])


DEFAULT_PROFILE: Final = load_default()


def share_by(curve: Sequence[float], fraction: float) -> float:
    """The share of the curve's volume in the horizon's first ``fraction`` (0 to 1): its integral, piecewise
    constant per bucket, over the total."""
    buckets = len(curve)
    reach = fraction * buckets
    whole = min(buckets, int(reach))
    covered = sum(curve[:whole]) + (curve[whole] * (reach - whole) if whole < buckets else 0.0)
    return min(1.0, covered / sum(curve))
