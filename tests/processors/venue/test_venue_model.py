"""The venue against a deliberately naive model of price-time priority (sorting every time, no book).

Stops and expiry are left out (their own tests cover them); everything else the matching does is compared
fill by fill, and the resting orders after every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _venue_builders import SYMBOL, T0, VENUE, P, Q, Sim, venue_order
from hypothesis import given, settings
from hypothesis import strategies as st

Fill = tuple[str, str, int, int]  # taker, maker, quantity, price


@dataclass
class Resting:
    order_id: str
    side: str
    price: int
    quantity: int
    cum: int
    seq: int
    post_only: bool


class NaiveVenue:
    def __init__(self) -> None:
        self.resting: dict[str, Resting] = {}
        self.seq = 0

    def _crossing(self, side: str, price: int | None) -> list[Resting]:
        if side == "BUY":
            makers = [o for o in self.resting.values() if o.side == "SELL" and (price is None or o.price <= price)]
            return sorted(makers, key=lambda o: (o.price, o.seq))
        makers = [o for o in self.resting.values() if o.side == "BUY" and (price is None or o.price >= price)]
        return sorted(makers, key=lambda o: (-o.price, o.seq))

    def _take(self, taker_id: str, side: str, price: int | None, leaves: int) -> tuple[list[Fill], int]:
        fills = []
        for maker in self._crossing(side, price):
            if not leaves:
                break
            quantity = min(leaves, maker.quantity - maker.cum)
            fills.append((taker_id, maker.order_id, quantity, maker.price))
            leaves -= quantity
            maker.cum += quantity
            if maker.cum == maker.quantity:
                del self.resting[maker.order_id]
        return fills, leaves

    def _rest(self, order: Resting) -> None:
        self.seq += 1
        order.seq = self.seq
        self.resting[order.order_id] = order

    def new(self, order_id: str, op: dict[str, Any]) -> list[Fill]:
        side, price, quantity = op["side"], op["price"], op["quantity"]
        if op["post_only"] and self._crossing(side, price):
            return []
        if op["time_in_force"] == "FOK":
            available = sum(o.quantity - o.cum for o in self._crossing(side, price))
            if available < quantity:
                return []
        fills, leaves = self._take(order_id, side, price, quantity)
        if leaves and price is not None and op["time_in_force"] == "GTC":
            self._rest(Resting(order_id, side, price, quantity, quantity - leaves, 0, op["post_only"]))
        return fills

    def cancel(self, order_id: str) -> None:
        self.resting.pop(order_id, None)

    def amend(self, order_id: str, quantity: int, price: int | None) -> list[Fill]:
        order = self.resting.get(order_id)
        if order is None or quantity < order.cum:
            return []
        new_price = order.price if price is None else price
        if new_price == order.price and quantity <= order.quantity:
            order.quantity = quantity
            if quantity == order.cum:
                del self.resting[order_id]
            return []
        if order.post_only and self._crossing(order.side, new_price):
            return []
        del self.resting[order_id]
        order.quantity, order.price = quantity, new_price
        if quantity == order.cum:
            return []
        fills, leaves = self._take(order_id, order.side, new_price, quantity - order.cum)
        order.cum = quantity - leaves
        if leaves:
            self._rest(order)
        return fills


new_orders = st.fixed_dictionaries(
    {
        "action": st.just("NEW"),
        "side": st.sampled_from(["BUY", "SELL"]),
        "price": st.one_of(st.none(), st.integers(98, 102).map(lambda p: p * P)),
        "quantity": st.integers(1, 5).map(lambda q: q * Q),
        "time_in_force": st.sampled_from(["GTC", "GTC", "GTC", "IOC", "FOK"]),
        "post_only": st.booleans(),
    }
)
cancels = st.fixed_dictionaries({"action": st.just("CANCEL"), "target": st.integers(0, 50)})
amends = st.fixed_dictionaries(
    {
        "action": st.just("AMEND"),
        "target": st.integers(0, 50),
        "quantity": st.integers(1, 6).map(lambda q: q * Q),
        "price": st.one_of(st.none(), st.integers(98, 102).map(lambda p: p * P)),
    }
)
# Long enough streams for queues to form: a short one rarely has two orders at one price to reorder.
ops = st.lists(st.one_of(new_orders, new_orders, cancels, amends), min_size=10, max_size=80)


def _target(choice: int, placed: list[str], model: NaiveVenue) -> str:
    """Mostly a resting order (that is where priority matters), sometimes any order ever placed."""
    pool = list(model.resting) if choice % 5 and model.resting else placed
    return pool[choice % len(pool)]


@settings(max_examples=200, deadline=None)
@given(ops)
def test_fills_and_resting_orders_match_a_naive_model(operations: list[dict[str, Any]]) -> None:
    sim, model = Sim(), NaiveVenue()
    placed: list[str] = []
    for i, op in enumerate(operations):
        t = T0 + i
        if op["action"] == "NEW":
            order_id = f"o{i}"
            placed.append(order_id)
            market = op["price"] is None
            post_only = op["post_only"] and not market  # post-only is for LIMIT orders only
            event = venue_order(
                "NEW",
                order_id,
                side=op["side"],
                price=op["price"],
                quantity=op["quantity"],
                order_type="MARKET" if market else "LIMIT",
                time_in_force=op["time_in_force"],
                post_only=post_only,
                t=t,
            )
            expected = model.new(order_id, {**op, "post_only": post_only})
        elif not placed:
            continue
        elif op["action"] == "CANCEL":
            order_id = _target(op["target"], placed, model)
            event = venue_order("CANCEL", order_id, t=t)
            model.cancel(order_id)
            expected = []
        else:
            order_id = _target(op["target"], placed, model)
            event = venue_order("AMEND", order_id, quantity=op["quantity"], price=op["price"], t=t)
            expected = model.amend(order_id, op["quantity"], op["price"])
        reports = [r for r in sim.send(event) if r["exec_type"] == "FILL"]
        takers = [r for r in reports if r["liquidity"] == "TAKER"]
        makers = [r for r in reports if r["liquidity"] == "MAKER"]
        actual = [
            (taker["order_id"], maker["order_id"], taker["last_quantity"], taker["last_price"])
            for taker, maker in zip(takers, makers, strict=True)
        ]
        assert actual == expected
        book = sim.core.book(VENUE, SYMBOL)
        assert book is not None
        resting = {o.order_id: (o.price, o.leaves) for o in book.orders.values()}
        assert resting == {o.order_id: (o.price, o.quantity - o.cum) for o in model.resting.values()}
        for side in ("BUY", "SELL"):
            for level in book.levels(side):
                in_model = sorted(
                    (o for o in model.resting.values() if o.price == level.price and o.side == side),
                    key=lambda o: o.seq,
                )
                assert [o.order_id for o in level.orders()] == [o.order_id for o in in_model]
