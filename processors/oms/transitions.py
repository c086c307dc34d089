"""The order state machine as an explicit table: status x trigger -> new status (FIX order states).

A pair absent from ``TABLE`` is an invalid transition: the core answers it (a reject event for a command,
a dead letter for a venue report) and never applies it. Terminal statuses have no row entries at all.

A pending request (PENDING_CANCEL, PENDING_REPLACE) sits on top of the order's *working* status
(PENDING_NEW, NEW or PARTIALLY_FILLED), which venue reports keep moving while the request is open: an ACK
or a partial fill of a PENDING_CANCEL order leaves it PENDING_CANCEL but turns the working status underneath
NEW or PARTIALLY_FILLED, and a cancel reject returns the order to that working status (``BACK``). A cancel
of an order with a replace open waits for the replace's answer (FIX lets a cancel follow a replace; the
venue answers them in turn), so the kill switch's cancels are never turned away by an amend in flight. So
``transition`` takes and returns the pair (status, working status); the table alone decides which triggers
are allowed, and a lifecycle trigger on a pending order must also be allowed on its working status.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from schemas.statuses import TERMINAL_STATUSES

# Statuses (shrivenquant.orders.OrderStatus).
PENDING_NEW: Final = "PENDING_NEW"
NEW: Final = "NEW"
PARTIALLY_FILLED: Final = "PARTIALLY_FILLED"
FILLED: Final = "FILLED"
PENDING_CANCEL: Final = "PENDING_CANCEL"
PENDING_REPLACE: Final = "PENDING_REPLACE"
CANCELLED: Final = "CANCELLED"
REJECTED: Final = "REJECTED"
EXPIRED: Final = "EXPIRED"

STATUSES: Final = (
    PENDING_NEW,
    NEW,
    PARTIALLY_FILLED,
    FILLED,
    PENDING_CANCEL,
    PENDING_REPLACE,
    CANCELLED,
    REJECTED,
    EXPIRED,
)
TERMINAL: Final = TERMINAL_STATUSES
PENDING_REQUEST: Final = frozenset({PENDING_CANCEL, PENDING_REPLACE})
WORKING: Final = frozenset({PENDING_NEW, NEW, PARTIALLY_FILLED})

# Triggers: approved commands, and venue reports (a FILL or AMENDED that leaves nothing to fill is told
# apart, because it ends the order).
CANCEL_REQUEST: Final = "CANCEL_REQUEST"
REPLACE_REQUEST: Final = "REPLACE_REQUEST"
ACK: Final = "ACK"
FILL: Final = "FILL"
FILL_COMPLETE: Final = "FILL_COMPLETE"
VENUE_CANCELLED: Final = "CANCELLED"
AMENDED: Final = "AMENDED"
AMENDED_COMPLETE: Final = "AMENDED_COMPLETE"
VENUE_REJECTED: Final = "REJECTED"
VENUE_EXPIRED: Final = "EXPIRED"
TRIGGERED: Final = "TRIGGERED"
CANCEL_REJECTED: Final = "CANCEL_REJECTED"
AMEND_REJECTED: Final = "AMEND_REJECTED"

TRIGGERS: Final = (
    CANCEL_REQUEST,
    REPLACE_REQUEST,
    ACK,
    FILL,
    FILL_COMPLETE,
    VENUE_CANCELLED,
    AMENDED,
    AMENDED_COMPLETE,
    VENUE_REJECTED,
    VENUE_EXPIRED,
    TRIGGERED,
    CANCEL_REJECTED,
    AMEND_REJECTED,
)
# Triggers that move the working status: on a pending order they must be valid on the working status too.
LIFECYCLE: Final = frozenset({ACK, FILL, FILL_COMPLETE, VENUE_REJECTED, VENUE_EXPIRED, TRIGGERED})

BACK: Final = "<working status>"  # the request is over: back to the working status underneath it

_WORKING_FILLS: Final = {FILL: PARTIALLY_FILLED, FILL_COMPLETE: FILLED, VENUE_EXPIRED: EXPIRED}
_REQUESTS: Final = {CANCEL_REQUEST: PENDING_CANCEL, REPLACE_REQUEST: PENDING_REPLACE}
# An order's own venue may cancel it unsolicited (e.g. at a session end): FIX allows it from any live state.
_UNSOLICITED_CANCEL: Final = {VENUE_CANCELLED: CANCELLED}

TABLE: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        PENDING_NEW: MappingProxyType(
            {
                ACK: NEW,
                **_WORKING_FILLS,
                VENUE_REJECTED: REJECTED,
                **_REQUESTS,
                **_UNSOLICITED_CANCEL,
            }
        ),
        NEW: MappingProxyType(
            {
                **_WORKING_FILLS,
                TRIGGERED: NEW,
                **_REQUESTS,
                **_UNSOLICITED_CANCEL,
            }
        ),
        PARTIALLY_FILLED: MappingProxyType(
            {
                **_WORKING_FILLS,
                **_REQUESTS,
                **_UNSOLICITED_CANCEL,
            }
        ),
        PENDING_CANCEL: MappingProxyType(
            {
                ACK: PENDING_CANCEL,
                FILL: PENDING_CANCEL,
                TRIGGERED: PENDING_CANCEL,
                FILL_COMPLETE: FILLED,
                VENUE_REJECTED: REJECTED,
                VENUE_EXPIRED: EXPIRED,
                VENUE_CANCELLED: CANCELLED,
                CANCEL_REJECTED: BACK,
            }
        ),
        PENDING_REPLACE: MappingProxyType(
            {
                ACK: PENDING_REPLACE,
                FILL: PENDING_REPLACE,
                TRIGGERED: PENDING_REPLACE,
                FILL_COMPLETE: FILLED,
                VENUE_REJECTED: REJECTED,
                VENUE_EXPIRED: EXPIRED,
                VENUE_CANCELLED: CANCELLED,
                AMENDED: BACK,
                AMENDED_COMPLETE: FILLED,
                AMEND_REJECTED: BACK,
                CANCEL_REQUEST: PENDING_REPLACE,  # the cancel waits for the replace's answer (the core queues it)
            }
        ),
        FILLED: MappingProxyType({}),
        CANCELLED: MappingProxyType({}),
        REJECTED: MappingProxyType({}),
        EXPIRED: MappingProxyType({}),
    }
)


def transition(status: str, working: str, trigger: str) -> tuple[str, str] | None:
    """(new status, new working status) after ``trigger``, or None when the table does not allow it.

    ``working`` is the status underneath a pending request; equal to ``status`` when none is pending.
    """
    target = TABLE[status].get(trigger)
    if target is None:
        return None
    if status in PENDING_REQUEST:
        return _under_request(status, working, trigger, target)
    if target in PENDING_REQUEST:
        return target, status  # a request opens on top of the current working status
    return target, target


def _under_request(status: str, working: str, trigger: str, target: str) -> tuple[str, str] | None:
    """The step of an order with a request open (``status`` PENDING_*) on ``working``, to the table's ``target``."""
    if target == BACK:
        return working, working
    if trigger in LIFECYCLE:
        underneath = TABLE[working].get(trigger)
        if underneath is None:
            return None  # e.g. a second ACK, or a venue reject of an order the venue had accepted
        if target in TERMINAL:
            return target, target
        return status, underneath
    if target == status:
        return status, working  # a request waiting behind the open one
    return target, target


def _every_step() -> dict[tuple[str, str, str], tuple[str, str]]:
    """``transition`` for every (status, working status, trigger) an order can be in: one dict probe per event."""
    pairs = [(status, status) for status in STATUSES if status not in PENDING_REQUEST]
    pairs += [(pending, working) for pending in PENDING_REQUEST for working in WORKING]
    steps: dict[tuple[str, str, str], tuple[str, str]] = {}
    for status, working in pairs:
        for trigger in TRIGGERS:
            step = transition(status, working, trigger)
            if step is not None:
                steps[status, working, trigger] = step
    return steps


# (status, working status, trigger) -> (new status, new working status); a missing key is not allowed.
STEPS: Final[Mapping[tuple[str, str, str], tuple[str, str]]] = _every_step()
