"""What a simulated venue is configured with: the fees of each named venue.

Fees are integer basis points of a fill's notional, maker and taker apart (negative = a rebate). A venue name
that ``fees_by_venue`` does not list trades at ``default_fees``: any name a ``VenueOrder`` carries gets its own
books, so several named venues run side by side in one core.

The defaults (maker 2 bps, taker 5 bps) are typical of a crypto exchange's base tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from processors.venue.matching import Fees

DEFAULT_FEES: Final = Fees(maker_fee_bps=2, taker_fee_bps=5)


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Everything ``VenueCore`` is configured with."""

    default_fees: Fees = DEFAULT_FEES
    fees_by_venue: Mapping[str, Fees] = field(default_factory=lambda: MappingProxyType({}))

    def fees_for(self, venue: str) -> Fees:
        return self.fees_by_venue.get(venue, self.default_fees)


DEFAULT_CONFIG: Final = VenueConfig()
