"""Is a depth update the next one for a book? One rule per venue and market, exactly as the venue documents it.

Both sides of md.depth use these rules: the Binance connector (``connectors.marketdata.book_sync``) to decide
what it publishes, and the cores that keep books from md.depth (``processors.orderbook.core``, the venue's
``processors.venue.market``) to decide what they apply. The connector imports them from here; a core never
imports a connector.

A snapshot is consistent with venue update id ``L`` (Binance ``lastUpdateId``). An update covers ids
``first..last`` (Binance ``U..u``) and may name the previous event's last id (Binance futures ``pu``).
Binance documents two procedures ("How to manage a local order book correctly"):

Spot (``U`` chain; ids are contiguous)
  - drop an event with ``u <= L``;
  - the first event applied has ``U <= L + 1 <= u``;
  - each next event has ``U == previous u + 1``.

USD-M futures and COIN-M futures (``pu`` chain; ids are not contiguous, ``U`` may jump past ``u + 1``)
  - drop an event with ``u < L`` (the event with ``u == L`` is applied: it re-sets levels the snapshot
    already holds, which is harmless because a level update carries the level's new total quantity);
  - the first event applied has ``U <= L <= u``;
  - each next event has ``pu == previous u``.

Anything else is a gap: updates were lost and the book can no longer be trusted. An event that does not
continue the chain but ends at or before the book's id is stale (a duplicate): it is ignored, not a gap.

Venues without a documented procedure (the synthetic ``sim`` market, recorded tapes of other sources) are
checked with the spot rule: contiguous ids, the only thing a venue that does not send ``pu`` can be checked by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final, Literal


class Verdict(Enum):
    APPLY = "apply"
    IGNORE = "ignore"
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class SequencingRule:
    """A venue's documented procedure; ``chain`` says what links an event to the previous one: ``"U"`` (its
    first id is the previous last id + 1) or ``"pu"`` (it names the previous event's last id)."""

    name: str
    chain: Literal["U", "pu"]

    def covered(self, last_id: int, snapshot_id: int) -> bool:
        """The snapshot already holds the event: drop it (before the first event is applied)."""
        return last_id <= snapshot_id if self.chain == "U" else last_id < snapshot_id

    def straddles(self, first_id: int, last_id: int, snapshot_id: int) -> bool:
        """The event may be the first one applied after a snapshot at ``snapshot_id``."""
        if self.chain == "U":
            return first_id <= snapshot_id + 1 <= last_id
        return first_id <= snapshot_id <= last_id

    def continues(self, first_id: int, previous_last_id: int | None, prior_last_id: int) -> bool:
        """The event follows the one applied before it, whose last id was ``prior_last_id``."""
        if self.chain == "U":
            return first_id == prior_last_id + 1
        return previous_last_id == prior_last_id

    def check(
        self, first_id: int, last_id: int, previous_last_id: int | None, book_id: int, *, bridged: bool
    ) -> tuple[Verdict, str]:
        """The verdict on one event for a book at ``book_id``: the snapshot's id while no event has been applied
        since it (``bridged`` False), else the last id of the last event applied. A gap comes with a detail
        naming what is missing."""
        if bridged:
            return self._after_event(first_id, last_id, previous_last_id, book_id)
        if self.covered(last_id, book_id):
            return Verdict.IGNORE, ""
        if self.straddles(first_id, last_id, book_id):
            return Verdict.APPLY, ""
        bound = book_id + 1 if self.chain == "U" else book_id
        return Verdict.GAP, (
            f"the first event after snapshot {book_id} starts at U={first_id}, past {bound}: missing updates"
        )

    def _after_event(
        self, first_id: int, last_id: int, previous_last_id: int | None, book_id: int
    ) -> tuple[Verdict, str]:
        """The verdict on an event after another was applied, whose last id ``book_id`` is."""
        if self.continues(first_id, previous_last_id, book_id):
            return Verdict.APPLY, ""
        if last_id <= book_id:
            return Verdict.IGNORE, ""
        if self.chain == "U":
            if first_id > book_id + 1:
                return Verdict.GAP, (
                    f"missing update ids {book_id + 1}..{first_id - 1} (U={first_id}, previous u={book_id})"
                )
            return Verdict.GAP, f"update ids overlap: U={first_id} but the previous event's u={book_id}"
        return Verdict.GAP, f"pu={previous_last_id} but the previous event's u={book_id} (U={first_id}, u={last_id})"


BINANCE_SPOT: Final = SequencingRule("Binance spot", "U")
BINANCE_USDM_FUTURES: Final = SequencingRule("Binance USD-M futures", "pu")
BINANCE_COINM_FUTURES: Final = SequencingRule("Binance COIN-M futures", "pu")
DEFAULT_RULE: Final = BINANCE_SPOT

# Venue id (the ``venue`` of md.depth records) → its rule. The Binance connector names its venues
# ``binance-<market>`` (``connectors.marketdata.binance_messages.venue_of``).
RULES: Final[Mapping[str, SequencingRule]] = MappingProxyType(
    {
        "binance-spot": BINANCE_SPOT,
        "binance-futures": BINANCE_USDM_FUTURES,
        "binance-coinm": BINANCE_COINM_FUTURES,
    }
)


def rule_for(venue: str) -> SequencingRule:
    """The venue's rule; the spot rule (contiguous ids) for a venue without a documented one."""
    return RULES.get(venue, DEFAULT_RULE)
