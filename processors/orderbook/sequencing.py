"""Is a depth update the next one for the book? Binance's rules for a correct local book, venue-neutral.

A snapshot is consistent with venue update id ``L``. An update covers ids ``first..last`` (Binance ``U..u``)
and may name the previous event's last id (Binance futures ``pu``).

- ``last <= L``: the book already holds it (the snapshot or an earlier update covered it): ignore.
- First update after a snapshot: it must straddle ``L + 1`` (``first <= L + 1``); the overlap is harmless
  because a level update carries the level's new total quantity, not a difference.
- Later updates: with ``previous_last_update_id`` it must equal ``L`` (futures); without it, ``first`` must
  not skip past ``L + 1`` (spot).
Anything else is a gap: updates were lost and the book can no longer be trusted.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    APPLY = "apply"
    IGNORE = "ignore"
    GAP = "gap"


def check_update(
    first_update_id: int, last_update_id: int, previous_last_update_id: int | None, book_update_id: int, *, fresh: bool
) -> tuple[Verdict, str]:
    """The verdict on one update for a book at ``book_update_id`` (``fresh``: no update applied since the
    snapshot), and for a gap a detail naming what is missing."""
    if last_update_id <= book_update_id:
        return Verdict.IGNORE, ""
    if not fresh and previous_last_update_id is not None:
        if previous_last_update_id == book_update_id:
            return Verdict.APPLY, ""
        return Verdict.GAP, (
            f"update {first_update_id}..{last_update_id} follows {previous_last_update_id}, "
            f"the book is at {book_update_id}"
        )
    if first_update_id <= book_update_id + 1:
        return Verdict.APPLY, ""
    return Verdict.GAP, f"missing update ids {book_update_id + 1}..{first_update_id - 1}"
