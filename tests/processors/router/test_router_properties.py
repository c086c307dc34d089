"""Properties of any run: whatever the algorithm, the market and the user's amends and cancels, no child asks for
more than the parent has unplaced, the children's fills never exceed the parent's quantity, and the parent's
cumulative quantity is exactly its children's."""

from __future__ import annotations

from typing import Any

from _router_builders import T0, P, Q, S, deep_book, engine, instruction, market, parent, tick
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Event
from schemas.names import AMEND_ORDER, CANCEL_ORDER
from schemas.statuses import TERMINAL_STATUSES
from tests.kit.events import amend_record, cancel_record, command, trade
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS

EXECUTIONS = {
    "TWAP": instruction("TWAP", params={"duration_s": "60", "slices": "6", "randomise_pct": "30"}),
    "POV": instruction("POV", participation_bps=2_500, params={"min_slice": "0.5"}),
    "ICEBERG": instruction("ICEBERG", display_quantity=3 * Q, params={"variance_pct": "50"}),
    "VWAP": instruction("VWAP", params={"duration_s": "60", "profile": "3,0,1,5,2"}),
    "PEG": instruction("PEG", peg_offset=P // 2, params={"peg": "mid"}),
    "SNIPER": instruction("SNIPER", params={"min_take": "1"}),
    "IMPLEMENTATION_SHORTFALL": instruction(
        "IMPLEMENTATION_SHORTFALL", params={"duration_s": "60", "slices": "7", "volatility": "0.05", "urgency": "3e9"}
    ),
}
steps = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, 15)),
        st.tuples(st.just("trade"), st.tuples(st.integers(97, 103), st.integers(1, 4))),
        st.tuples(st.just("amend"), st.integers(1, 25)),
        st.tuples(st.just("cancel"), st.just(0)),
        st.tuples(st.just("book"), st.tuples(st.integers(96, 101), st.integers(1, 4), st.integers(1, 6))),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(algo=st.sampled_from(sorted(EXECUTIONS)), quantity=st.integers(1, 20), price=st.integers(98, 102), plan=steps)
def test_children_never_exceed_the_parent(algo: str, quantity: int, price: int, plan: list[tuple[str, Any]]) -> None:
    path = engine(codec=False)
    for market_data in deep_book(depth=3 * Q):
        path.send(market_data)
    parent_id, new = parent("prop", EXECUTIONS[algo], quantity=quantity * Q, order_type="LIMIT", price=price * P)
    path.send(new)
    now = T0
    for kind, value in plan:
        now += S
        event: Event
        if kind == "tick":
            now += value * S
            event = tick(now)
        elif kind == "trade":
            event = trade(value[0] * P, value[1] * Q // 2, t=now)
        elif kind == "amend":
            event = command(AMEND_ORDER, amend_record(parent_id, quantity=value * Q, t=now))
        elif kind == "book":  # a new book: the best bid, the spread and the quantity at each level
            bid, spread, size = value
            for market_event in market(
                now // S, [(bid * P, size * Q // 2)], [((bid + spread) * P, size * Q // 2)], t=now
            ):
                path.send(market_event)
            _check(path.records(ORDERS_EVENTS), parent_id)
            continue
        else:
            event = command(CANCEL_ORDER, cancel_record(parent_id, t=now))
        path.send(event)
        _check(path.records(ORDERS_EVENTS), parent_id)
    assert not path.outputs.get(DEAD_LETTERS), "no fill was refused (an overfill would be)"


def _check(events: list[dict[str, Any]], parent_id: str) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for record in events:
        if record["parent_order_id"] == parent_id:
            assert record["detail"].find("exceeds the parent's unplaced") < 0, "a child asked for too much"
        latest[record["order_id"]] = record
    parent_view = latest[parent_id]
    kids = [record for order_id, record in latest.items() if record["parent_order_id"] == parent_id]
    filled = sum(record["cum_quantity"] for record in kids)
    assert filled == parent_view["cum_quantity"] <= parent_view["quantity"]
    working = sum(record["leaves_quantity"] for record in kids if record["status"] not in TERMINAL_STATUSES)
    if parent_view["status"] not in TERMINAL_STATUSES:
        assert filled + working <= parent_view["quantity"], "placed within the parent's quantity"
