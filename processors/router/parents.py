"""One algorithmic parent as the router keeps it, and what it should do next (pure).

A parent is a JSON-able dict: the order's terms, its plan (``processors.algos.plan``), ``accepted`` (the OMS
accepted it), ``status`` (its latest status at the OMS: children go only to a NEW or PARTIALLY_FILLED one),
``stopping`` (a cancel is under way: no new child), ``next`` (the number of the next child),
``children`` (the open children: child id -> ``[quantity, cum, open, cancel sent]``; a child leaves when it
ends, so the record stays small however many children a parent works through), ``placed`` (below) and each
algorithm's progress: ``slices_due`` (TWAP, VWAP, IS), ``volume`` (POV: traded volume seen since the start),
``show_at`` (ICEBERG: when the next slice may show), ``peg_price`` (PEG: the price of its latest child),
``book_seq`` (SNIPER: the book view it last took on, so one view is taken at most once).

*Placed* is what the children hold: an open child's quantity, a finished child's filled quantity (kept as a sum,
changed as children change); *unplaced* is the parent's quantity less that, the most any new child may take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from processors.algos import schedule
from processors.core import Record

DAY_US: Final = 86_400_000_000
QUANTITY: Final = 0
CUM: Final = 1
OPEN: Final = 2
CANCEL_SENT: Final = 3

Parent = dict[str, Any]
# The sliced algorithms: slices due on TWAP's clock, each with its target of what to have placed by then.
SLICED: Final = {
    "TWAP": schedule.twap_target,
    "VWAP": schedule.vwap_target,
    "IMPLEMENTATION_SHORTFALL": schedule.shortfall_target,
}


def new_parent(decision: Mapping[str, Any], command: Mapping[str, Any], plan: Record) -> Parent:
    """The parent a risk-approved NewOrder with an execution instruction makes."""
    return {
        "account": command["account"],
        "order_id": command["order_id"],
        "client_order_id": command["client_order_id"],
        "symbol": command["symbol"],
        "side": command["side"],
        "order_type": command["order_type"],
        "time_in_force": command["time_in_force"],
        "expire_time_us": command.get("expire_time_us"),
        "price": command.get("price"),
        "post_only": bool(command.get("post_only")),
        "reduce_only": bool(command.get("reduce_only")),
        "venue": command.get("venue"),
        "quantity": command["quantity"],
        "expires_us": _expiry(command, plan),
        "correlation_id": command["meta"]["correlation_id"],
        "decision_id": decision["meta"]["event_id"],
        "plan": plan,
        "accepted": False,
        "status": "NEW",
        "stopping": False,
        "next": 0,
        "children": {},
        "placed": 0,
        "slices_due": 0,
        "volume": 0,
        "show_at": None,
        "peg_price": None,
        "book_seq": None,
    }


def placed(parent: Mapping[str, Any]) -> int:
    value: int = parent["placed"]
    return value


def holds(child: list[Any]) -> int:
    """What a child counts for in ``placed``: its quantity while open, its filled quantity once ended."""
    value: int = child[QUANTITY] if child[OPEN] else child[CUM]
    return value


def due_quantity(parent: Parent, now: int, view: Mapping[str, Any] | None = None) -> int:
    """The quantity of the child the parent should send at ``now`` (0: none), advancing its schedule. ``view``:
    the symbol's book as PEG and SNIPER see it (None: none, or stale)."""
    plan = parent["plan"]
    if not parent["accepted"] or parent["stopping"] or now < plan["start_us"]:
        return 0
    already = placed(parent)
    unplaced: int = parent["quantity"] - already
    if unplaced <= 0:
        return 0
    want = _WANTS[plan["algo"]](parent, now, view, already, unplaced)
    return max(0, min(want, unplaced))


def _sliced(parent: Parent, now: int, view: Mapping[str, Any] | None, already: int, unplaced: int) -> int:
    plan = parent["plan"]
    parent["slices_due"] = schedule.twap_slices_due(plan, parent["order_id"], now, parent["slices_due"])
    return SLICED[plan["algo"]](plan, parent["quantity"], parent["slices_due"]) - already


def _pov(parent: Parent, now: int, view: Mapping[str, Any] | None, already: int, unplaced: int) -> int:
    plan = parent["plan"]
    floor, target, cap = schedule.pov_bounds(plan, parent["volume"])
    if already >= floor:
        return 0
    want = target - already
    if want < plan["min_slice"] and want < unplaced:  # no dust: wait until a minimum slice fits the cap
        return plan["min_slice"] if cap - already >= plan["min_slice"] else 0
    return want


def _iceberg(parent: Parent, now: int, view: Mapping[str, Any] | None, already: int, unplaced: int) -> int:
    """One slice shows at a time."""
    if parent["children"] or (parent["show_at"] is not None and now < parent["show_at"]):
        return 0
    return schedule.iceberg_slice(parent["plan"], parent["order_id"], parent["next"])


def _peg(parent: Parent, now: int, view: Mapping[str, Any] | None, already: int, unplaced: int) -> int:
    """One child rests at the peg; a re-peg cancels it (``repeg_due``) and the next follows once it ends."""
    if parent["children"] or view is None:
        return 0
    price = schedule.peg_price(parent["plan"], parent["side"], view, parent["price"])
    if price is None:
        return 0
    parent["peg_price"] = price
    return unplaced


def _sniper(parent: Parent, now: int, view: Mapping[str, Any] | None, already: int, unplaced: int) -> int:
    """An IOC child takes what a book view shows within the limit, once per view."""
    if parent["children"] or view is None or view["sequence"] == parent["book_seq"]:
        return 0
    shown = schedule.sniper_available(parent["side"], view, parent["price"])
    if shown <= 0 or (shown < parent["plan"]["min_take"] and shown < unplaced):
        return 0
    parent["book_seq"] = view["sequence"]
    return shown


_WANTS: Final = {
    **dict.fromkeys(SLICED, _sliced),
    "POV": _pov,
    "ICEBERG": _iceberg,
    "PEG": _peg,
    "SNIPER": _sniper,
}


def repeg_due(parent: Parent, view: Mapping[str, Any] | None) -> bool:
    """Whether a PEG parent's resting child is off the peg on ``view``: the router cancels it (the next child
    goes at the new price once it ends). A stale book, or a book without the reference side, leaves it."""
    if parent["plan"]["algo"] != "PEG" or view is None or not parent["children"]:
        return False
    if any(child[CANCEL_SENT] for child in parent["children"].values()):
        return False
    price = schedule.peg_price(parent["plan"], parent["side"], view, parent["price"])
    return price is not None and price != parent["peg_price"]


def _expiry(command: Mapping[str, Any], plan: Mapping[str, Any]) -> int | None:
    """When the parent's time in force ends: a GTD's expire time, a DAY's end of the UTC day it starts in."""
    if command["time_in_force"] == "GTD":
        expire: int | None = command.get("expire_time_us")
        return expire
    if command["time_in_force"] == "DAY":
        start: int = plan["start_us"]
        return (start // DAY_US + 1) * DAY_US
    return None


def expired(parent: Mapping[str, Any], now: int) -> bool:
    """Past the plan's end time or the parent's time in force: the router cancels what is left."""
    ends = [end for end in (parent["plan"]["end_us"], parent.get("expires_us")) if end is not None]
    return bool(ends) and now >= min(ends)
