"""The schedulers: pure functions of a plan, the parent's progress and event time (docs/EXECUTION.md).

Each answers "how much should the parent have placed by now": the router sends a child for the difference
between that target and what it has placed (``processors.router.parents``). Randomisation is seeded by the
parent's id and the slice number, so live, replay and backtest draw the same numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from processors.algos import profile

BPS = 10_000


def draw(parent_id: str, n: int) -> float:
    """A number in [0, 1) for slice ``n`` of a parent: the same in every run."""
    return random.Random(f"{parent_id}|{n}").random()


def twap_slice_time(plan: Mapping[str, Any], parent_id: str, n: int) -> int:
    """When slice ``n`` (0-based) is due: evenly spaced from the start, moved by the seeded jitter."""
    start: int = plan["start_us"]
    interval: float = (plan["end_us"] - start) / plan["slices"]
    jitter: float = (draw(parent_id, n) - 0.5) * plan["randomise_pct"] / 100 * interval
    return max(start, round(start + n * interval + jitter))


def twap_slices_due(plan: Mapping[str, Any], parent_id: str, now: int, after: int) -> int:
    """How many slices are due at ``now``, counting on from ``after`` already due (times only move forward)."""
    slices: int = plan["slices"]
    due = after
    while due < slices and twap_slice_time(plan, parent_id, due) <= now:
        due += 1
    return due


def twap_target(plan: Mapping[str, Any], quantity: int, slices_due: int) -> int:
    """Quantity to have placed once ``slices_due`` slices are due: an equal share each, the rest in the last."""
    slices: int = plan["slices"]
    return quantity * slices_due // slices


def vwap_target(plan: Mapping[str, Any], quantity: int, slices_due: int) -> int:
    """Quantity to have placed once ``slices_due`` slices are due: the profile's cumulative share of it."""
    if slices_due <= 0:
        return 0
    if slices_due >= plan["slices"]:
        return quantity
    return min(quantity, int(quantity * profile.share_by(plan["curve"], slices_due / plan["slices"])))


def shortfall_remaining(kappa_horizon: float, elapsed: float) -> float:
    """The Almgren-Chriss share of the parent still to trade at ``elapsed`` (0 to 1) of the horizon:
    sinh(kappa(T-t))/sinh(kappa*T), written with exponentials so a large kappa*T does not overflow; 1 - t/T
    when kappa is 0."""
    if kappa_horizon <= 0:
        return 1 - elapsed
    left = kappa_horizon * (1 - elapsed)
    return math.exp(-kappa_horizon * elapsed) * math.expm1(-2 * left) / math.expm1(-2 * kappa_horizon)


def shortfall_target(plan: Mapping[str, Any], quantity: int, slices_due: int) -> int:
    """Quantity to have placed once ``slices_due`` slices are due: the parent less the trajectory's holding at
    the end of the last slice due (slice *n* trades down to x at t = (n + 1)/slices of the horizon)."""
    slices: int = plan["slices"]
    if slices_due <= 0:
        return 0
    if slices_due >= slices:
        return quantity
    remaining = shortfall_remaining(plan["kappa_horizon"], slices_due / slices)
    return max(0, min(quantity, quantity - math.ceil(quantity * remaining)))


def pov_bounds(plan: Mapping[str, Any], volume: int) -> tuple[int, int, int]:
    """(floor, target, cap) of the placed quantity for ``volume`` traded since the start."""
    return volume * plan["min_bps"] // BPS, volume * plan["target_bps"] // BPS, volume * plan["max_bps"] // BPS


def iceberg_slice(plan: Mapping[str, Any], parent_id: str, n: int) -> int:
    """The size shown by slice ``n``: the display quantity, smaller by up to ``variance_pct`` (seeded)."""
    display: int = plan["display"]
    shrink = int(display * plan["variance_pct"] / 100 * draw(parent_id, n))
    return max(1, display - shrink)


def peg_price(plan: Mapping[str, Any], side: str, view: Mapping[str, Any], cap: int) -> int | None:
    """The price a PEG child rests at on a book ``view`` (best levels first; None: no reference to peg to):
    the reference plus the offset for a buy (minus it for a sell), never beyond the limit ``cap``. A mid peg
    rounds away from the far side (a buy down, a sell up)."""
    buying = side == "BUY"
    near, far = (view["bids"], view["asks"]) if buying else (view["asks"], view["bids"])
    reference: str = plan["reference"]
    if reference == "MID":
        if not near or not far:
            return None
        total: int = near[0][0] + far[0][0]
        price = total // 2 if buying else -(-total // 2)
    else:
        levels = near if reference == "PRIMARY" else far
        if not levels:
            return None
        price = levels[0][0]
    offset: int = plan["offset"]
    price = price + offset if buying else price - offset
    price = min(price, cap) if buying else max(price, cap)
    return price if price > 0 else None


def sniper_available(side: str, view: Mapping[str, Any], limit: int) -> int:
    """The quantity the book ``view`` displays at or better than ``limit`` on the side a ``side`` order takes."""
    if side == "BUY":
        return sum(quantity for price, quantity in view["asks"] if price <= limit)
    return sum(quantity for price, quantity in view["bids"] if price >= limit)
