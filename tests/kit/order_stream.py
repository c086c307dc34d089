"""A deterministic synthetic order-path stream for the sink's tests and benchmark.

Orders of several accounts and symbols live through the paths the projections must get right: fills
(partial then full, with the venue's fill reports and the positions they move), cancels, amends, risk
denials, venue rejects, cancel rejects and duplicate client order ids. Lifecycles interleave as they would
live; each order's own events stay in order (they share the account's partition).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.examples import BASE_TIME_US, example_event, price, qty
from schemas.names import EXECUTION_REPORT, ORDER_EVENT, POSITION
from schemas.scales import Price, Quantity, notional
from topics.catalogue import ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS

KINDS = ("filled", "cancelled", "amended", "denied", "rejected", "cancel_rejected", "duplicate", "cancel_unknown")
SYMBOLS = ("BTCUSDT", "ETHUSDT")


@dataclass(frozen=True, slots=True)
class Produced:
    topic: str
    key: str
    schema: str
    record: dict[str, Any]


@dataclass
class _Position:
    quantity: int = 0
    cash: int = 0
    fees: int = 0
    fill_count: int = 0
    version: int = 0


class SampleStream:
    """``orders`` orders over ``accounts`` accounts; ``run`` keeps ids apart between streams."""

    def __init__(self, orders: int, accounts: int = 4, run: str = "s") -> None:
        self.orders = orders
        self.accounts = accounts
        self.run = run
        self._clock = 0
        self._positions: dict[tuple[str, str], _Position] = {}

    def records(self) -> list[Produced]:
        lifecycles = [list(self._lifecycle(n)) for n in range(self.orders)]
        out: list[Produced] = []
        # Interleave: step k of a window of orders, then step k+1, … as concurrent orders do.
        window = 16
        for start in range(0, len(lifecycles), window):
            group = lifecycles[start : start + window]
            for step in range(max(len(steps) for steps in group)):
                out += [steps[step] for steps in group if step < len(steps)]
        return self._stamped(out)

    def _stamped(self, records: list[Produced]) -> list[Produced]:
        """Event times increase along the stream, like the log's."""
        for index, produced in enumerate(records, start=1):
            meta = produced.record["meta"]
            meta["event_time_us"] = BASE_TIME_US + index * 1000
            meta["ingest_time_us"] = BASE_TIME_US + index * 1000 + 250
        return records

    def _lifecycle(self, n: int) -> Iterator[Produced]:
        kind = KINDS[n % len(KINDS)]
        account = f"{self.run}-acct-{n % self.accounts}"
        symbol = SYMBOLS[n % len(SYMBOLS)]
        side = "BUY" if n % 4 < 2 else "SELL"
        order = _Order(
            self,
            n,
            account=account,
            symbol=symbol,
            side=side,
            quantity=qty("0.01") * (1 + n % 5),
            limit=price("100") + n * 100_000_000,
        )
        if kind == "cancel_unknown":  # a cancel naming no order: the OMS answers with the FIX "unknown order" view
            order.quantity = 0
            yield order.event(
                "CANCEL_REJECTED",
                "REJECTED",
                reject_reason="UNKNOWN_ORDER",
                version=0,
                price=None,
                client_order_id="",
                detail="no such order",
            )
            return
        if kind == "denied":
            yield order.event("DENIED", "REJECTED", reject_reason="QUANTITY_LIMIT", detail="above max quantity")
            return
        yield order.event("PENDING_NEW", "PENDING_NEW")
        if kind == "rejected":
            yield order.execution("REJECTED", reject_reason="POST_ONLY_WOULD_TAKE")
            yield order.event("REJECTED", "REJECTED", reject_reason="POST_ONLY_WOULD_TAKE")
            return
        yield order.execution("ACK")
        yield order.event("ACCEPTED", "NEW")
        if kind == "duplicate":
            yield order.event("DUPLICATE_REJECTED", "NEW", reject_reason="DUPLICATE_CLIENT_ORDER_ID")
        if kind == "cancel_rejected":
            yield order.event("PENDING_CANCEL", "PENDING_CANCEL")
            yield order.execution("CANCEL_REJECTED", reject_reason="UNKNOWN_ORDER")
            yield order.event("CANCEL_REJECTED", "NEW", reject_reason="UNKNOWN_ORDER")
        if kind == "cancelled":
            yield order.event("PENDING_CANCEL", "PENDING_CANCEL")
            yield order.execution("CANCELLED")
            yield order.event("CANCELLED", "CANCELLED")
            return
        if kind == "amended":
            yield order.event("PENDING_REPLACE", "PENDING_REPLACE")
            order.quantity += qty("0.01")
            order.price += price("1")
            yield order.execution("AMENDED")
            yield order.event("REPLACED", "NEW")
        yield from order.fill(order.quantity // 2)
        yield from order.fill(order.quantity - order.cum)

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    def position_after(self, order: _Order, quantity: int, fill_price: int, fee: int, fill_id: str) -> Produced:
        state = self._positions.setdefault((order.account, order.symbol), _Position())
        signed = quantity if order.side == "BUY" else -quantity
        state.quantity += signed
        state.cash += -notional(Price(fill_price), Quantity(signed)) - fee
        state.fees += fee
        state.fill_count += 1
        state.version += 1
        record = example_event(
            POSITION,
            self.tick(),
            account=order.account,
            symbol=order.symbol,
            quantity=state.quantity,
            avg_price=fill_price if state.quantity else None,
            realized_pnl=0,
            unrealized_pnl=0,
            fees=state.fees,
            cash=state.cash,
            mark_price=fill_price,
            fill_count=state.fill_count,
            last_fill_id=fill_id,
            version=state.version,
        )
        record["meta"] = {**record["meta"], "event_id": f"{self.run}-pos-{self._clock}"}
        return Produced(PORTFOLIO_POSITIONS, f"{order.account}|{order.symbol}", POSITION, record)


class _Order:
    def __init__(
        self, stream: SampleStream, n: int, *, account: str, symbol: str, side: str, quantity: int, limit: int
    ) -> None:
        self.stream = stream
        self.n = n
        self.account = account
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = limit
        self.order_id = f"{stream.run}-ord-{n:06d}"
        self.version = 0
        self.cum = 0
        self.paid = 0  # sum of fill notional at the price scale, for the average price
        self.fills = 0

    def event(self, event_type: str, status: str, **fields: Any) -> Produced:
        self.version += 1
        seq = self.stream.tick()
        overrides = dict(
            account=self.account,
            order_id=self.order_id,
            client_order_id=f"cl-{self.n:06d}",
            symbol=self.symbol,
            side=self.side,
            event_type=event_type,
            status=status,
            version=self.version,
            quantity=self.quantity,
            price=self.price,
            cum_quantity=self.cum,
            leaves_quantity=0 if status in ("FILLED", "CANCELLED", "REJECTED") else self.quantity - self.cum,
            avg_price=self.paid // self.cum if self.cum else None,
            last_quantity=0,
            last_price=None,
            fee=0,
            fill_id=None,
            liquidity=None,
            reject_reason=None,
            post_only=False,
        )
        record = example_event(ORDER_EVENT, seq, **{**overrides, **fields})
        record["meta"] = {**record["meta"], "event_id": f"{self.order_id}-e{self.version}"}
        return Produced(ORDERS_EVENTS, self.account, ORDER_EVENT, record)

    def execution(self, exec_type: str, **fields: Any) -> Produced:
        seq = self.stream.tick()
        overrides = dict(
            account=self.account,
            order_id=self.order_id,
            symbol=self.symbol,
            exec_type=exec_type,
            fill_id=None,
            last_quantity=0,
            last_price=None,
            liquidity=None,
            fee=0,
            cum_quantity=self.cum,
            leaves_quantity=self.quantity - self.cum,
        )
        record = example_event(EXECUTION_REPORT, seq, **{**overrides, **fields})
        record["meta"] = {**record["meta"], "event_id": f"{self.order_id}-x{seq}"}
        return Produced(VENUE_EXECUTIONS, self.account, EXECUTION_REPORT, record)

    def fill(self, quantity: int) -> Iterator[Produced]:
        self.fills += 1
        fill_id = f"{self.stream.run}-fill-{self.n:06d}-{self.fills}"
        fill_price = self.price - self.fills * 1000
        fee = notional(Price(fill_price), Quantity(quantity)) * 2 // 10_000
        self.cum += quantity
        self.paid += fill_price * quantity
        details = {
            "fill_id": fill_id,
            "last_quantity": quantity,
            "last_price": fill_price,
            "fee": fee,
            "liquidity": "TAKER",
        }
        yield self.execution("FILL", **details)
        done = self.cum == self.quantity
        yield self.event("FILLED" if done else "PARTIALLY_FILLED", "FILLED" if done else "PARTIALLY_FILLED", **details)
        yield self.stream.position_after(self, quantity, fill_price, fee, fill_id)
