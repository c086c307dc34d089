"""What a simulated venue is configured with: the fees of each named venue, market liquidity and latency.

Fees are integer basis points of a fill's notional, maker and taker apart (negative = a rebate). A venue name
that ``fees_by_venue`` does not list trades at ``default_fees``: any name a ``VenueOrder`` carries gets its own
books, so several named venues run side by side in one core.

The defaults (maker 2 bps, taker 5 bps) are typical of a crypto exchange's base tier.

``market_liquidity`` (default True): the venue also fills against the market's book from ``md.depth`` and the
trades of ``md.trades`` (``processors.venue.market``, ``processors.venue.market_fills``). With no market data
for a symbol nothing changes: its orders match only each other, exactly as with the switch off. Off, market
data is ignored (the venue is a plain matching engine over the orders sent to it).

``latency_us`` (default 0), or a venue's own in ``latency_by_venue``: the delay, in event time, between an
order message (NEW, CANCEL, AMEND) arriving and the venue handling it: it is handled at arrival + latency,
against the books as they are then. It waits until an event of its symbol (an order or market data) with a
later event time arrives, because the venue has no clock but its events; 0 handles every message on arrival.
A message to a faster venue may be handled before an earlier one to a slower venue, never before an earlier
one to the same venue.

``venue_config(specs)`` builds the configuration of the named venues of ``SQ_VENUES`` (``settings``).

``catch_up_trades`` (default 10,000): the latest trades kept per symbol (broadcast state) so that orders
restored from the changelog meet the trades a rebuilt core read before their restore (``processors.venue.core``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

from processors.venue.matching import Fees
from settings import DEFAULT_VENUE, VenueSpec

DEFAULT_FEES: Final = Fees(DEFAULT_VENUE.maker_fee_bps, DEFAULT_VENUE.taker_fee_bps)


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Everything ``VenueCore`` is configured with."""

    default_fees: Fees = DEFAULT_FEES
    fees_by_venue: Mapping[str, Fees] = field(default_factory=lambda: MappingProxyType({}))
    market_liquidity: bool = True
    latency_us: int = 0
    catch_up_trades: int = 10_000
    latency_by_venue: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for venue, latency in (("", self.latency_us), *self.latency_by_venue.items()):
            if latency < 0:
                raise ValueError(f"latency_us{' of ' + venue if venue else ''} must not be negative, not {latency}")
        if self.catch_up_trades < 0:
            raise ValueError(f"catch_up_trades must not be negative, not {self.catch_up_trades}")

    def fees_for(self, venue: str) -> Fees:
        return self.fees_by_venue.get(venue, self.default_fees)

    def latency_for(self, venue: str) -> int:
        return self.latency_by_venue.get(venue, self.latency_us)


DEFAULT_CONFIG: Final = VenueConfig()


def venue_config(specs: Sequence[VenueSpec], base: VenueConfig = DEFAULT_CONFIG) -> VenueConfig:
    """``base`` with the fees and latency of each named venue (``settings.VenueSpec``); no specs: ``base``."""
    if not specs:
        return base
    return replace(
        base,
        fees_by_venue=MappingProxyType({s.name: Fees(s.maker_fee_bps, s.taker_fee_bps) for s in specs}),
        latency_by_venue=MappingProxyType({s.name: s.latency_us for s in specs}),
    )
