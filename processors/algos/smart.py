"""SMART routing: split a parent's unplaced quantity over the named venues by displayed liquidity, net of fees.

Pure. Each venue is seen through the market it mirrors (``VenueView``): venues mirroring the same market share
its displayed levels, so a level's quantity is given out once, never once per venue. Every displayed level at
or better than the limit is a candidate on every venue that shows it, ranked by its net price (a buy pays the
price plus the venue's taker fee, a sell receives the price less it), then by the venue's latency (the faster
first), then by name; the sweep takes candidates best first until the quantity is placed. Each venue gets one
child: the quantity it was given, limited at the worst price taken there (an IOC sweeping those levels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BPS = 10_000

Level = tuple[int, int]  # (price, quantity), fixed point


@dataclass(frozen=True, slots=True)
class VenueView:
    """A venue as SMART sees it: its fees and latency and the market whose displayed liquidity it shows."""

    name: str
    taker_fee_bps: int
    latency_us: int
    market: str  # venues with the same market share its levels


@dataclass(frozen=True, slots=True)
class Allocation:
    venue: str
    quantity: int
    price: int  # the worst level price taken on this venue: the child's limit


def net_price(side: str, price: int, taker_fee_bps: int) -> int:
    """What one unit costs a buy (or brings a sell) on a venue, its taker fee included, times ``BPS`` (exact in
    integers, so candidates compare without rounding)."""
    return price * (BPS + taker_fee_bps if side == "BUY" else BPS - taker_fee_bps)


def allocate(
    side: str,
    quantity: int,
    limit: int | None,
    venues: Sequence[VenueView],
    levels: Mapping[str, Sequence[Level]],
) -> list[Allocation]:
    """The children that sweep ``quantity`` (``levels``: each market's displayed levels on the side a ``side``
    order takes, best first; ``limit`` None: any price). Ordered by venue name; empty when nothing shows."""
    if quantity <= 0:
        return []
    candidates: list[tuple[int, int, str, int, str, int]] = []  # net, latency, venue, price, market, index
    for venue in venues:
        for index, (price, _) in enumerate(levels.get(venue.market, ())):
            if limit is not None and (price > limit if side == "BUY" else price < limit):
                break
            net = net_price(side, price, venue.taker_fee_bps)
            rank = net if side == "BUY" else -net  # the best net price first: lowest cost, highest proceeds
            candidates.append((rank, venue.latency_us, venue.name, price, venue.market, index))
    candidates.sort()
    left = quantity
    taken: dict[tuple[str, int], int] = {}  # (market, level index) -> quantity given out
    given: dict[str, list[int]] = {}  # venue -> [quantity, worst price]
    for _, _, name, price, market, index in candidates:
        if left == 0:
            break
        shown = levels[market][index][1] - taken.get((market, index), 0)
        take = min(shown, left)
        if take <= 0:
            continue
        taken[(market, index)] = taken.get((market, index), 0) + take
        left -= take
        held = given.setdefault(name, [0, price])
        held[0] += take
        held[1] = max(held[1], price) if side == "BUY" else min(held[1], price)
    return [Allocation(name, held[0], held[1]) for name, held in sorted(given.items())]
