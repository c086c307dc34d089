"""A seeded, realistic random order flow (`sq flow`): pure generation, no I/O.

Several accounts trade a few symbols around a drifting mid: passive and crossing limit orders, market
orders, IOC/FOK, cancels and amends of earlier orders, and a small share of invalid commands (a limit
without a price, a zero quantity, a cancel of an unknown order, a resubmitted client order id) so every
reject path is exercised. The same seed and run id give the same commands.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from processors.core import Record, derived_event_id, order_id_for
from processors.risk.limits import DEFAULT_LIMITS
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE

# Reference mid prices and typical order sizes of the symbols the flow knows (fixed-point).
REFERENCE_MIDS = {"BTCUSDT": 60_000 * PRICE_SCALE, "ETHUSDT": 3_000 * PRICE_SCALE, "SOLUSDT": 150 * PRICE_SCALE}
LOT_SIZES = {"BTCUSDT": QUANTITY_SCALE // 1000, "ETHUSDT": QUANTITY_SCALE // 100, "SOLUSDT": QUANTITY_SCALE // 10}
FLOW_MAX_OPEN_ORDERS = 10_000
TICK_BPS = 1  # price steps of one basis point of the reference mid


@dataclass(frozen=True)
class FlowCommand:
    key: str  # the account: orders.commands is keyed by account
    schema: str
    record: Record


@dataclass
class FlowConfig:
    orders: int
    seed: int = 7
    accounts: int = 4
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    run_id: str = "flow"
    start_time_us: int = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    interval_us: int = 10_000  # event time between commands: about 100 commands/s over all accounts
    invalid_share: float = 0.03
    cancel_share: float = 0.12
    amend_share: float = 0.08


@dataclass
class _Open:
    account: str
    order_id: str
    symbol: str
    side: str
    quantity: int
    price: int


@dataclass
class OrderFlow:
    config: FlowConfig
    rng: random.Random = field(init=False)
    mids: dict[str, int] = field(init=False)
    open_orders: list[_Open] = field(default_factory=list)
    sequence: int = 0
    placed: int = 0  # valid new orders yielded so far, of config.orders (a caller's progress)

    def __post_init__(self) -> None:
        unknown = [s for s in self.config.symbols if s not in REFERENCE_MIDS]
        if unknown:
            raise ValueError(f"unknown symbols {unknown}; the flow knows {', '.join(REFERENCE_MIDS)}")
        self.rng = random.Random(self.config.seed)
        self.mids = {s: REFERENCE_MIDS[s] for s in self.config.symbols}

    def accounts(self) -> list[str]:
        return [f"ACC-{n:03d}" for n in range(1, self.config.accounts + 1)]

    def limits(self) -> list[FlowCommand]:
        """Each account's risk limits, sent before the flow: the defaults, with the symbols' reference prices
        (without market data a market order has no price to value it at, and risk denies it) and room for
        the flow's resting orders (it cancels only some of them)."""
        records = []
        for account in self.accounts():
            limits = DEFAULT_LIMITS.as_record()
            limits["max_open_orders"] = FLOW_MAX_OPEN_ORDERS
            limits["reference_prices"] = {s: REFERENCE_MIDS[s] for s in self.config.symbols}
            records.append(
                FlowCommand(account, RISK_LIMITS_SCHEMA, {"meta": self._meta(), "account": account, **limits})
            )
        return records

    def commands(self) -> Iterator[FlowCommand]:
        """``config.orders`` new orders, with cancels, amends and invalid commands among them."""
        self.placed = 0
        while self.placed < self.config.orders:
            roll = self.rng.random()
            if roll < self.config.cancel_share and self.open_orders:
                yield self._cancel()
            elif roll < self.config.cancel_share + self.config.amend_share and self.open_orders:
                yield self._amend()
            elif roll < self.config.cancel_share + self.config.amend_share + self.config.invalid_share:
                yield from self._invalid()
            else:
                self.placed += 1
                yield self._new_order()

    # -- command builders ---------------------------------------------------------------------------
    def _meta(self) -> Record:
        self.sequence += 1
        event_id = derived_event_id(f"{self.config.run_id}|{self.config.seed}", "flow", self.sequence)
        time_us = self.config.start_time_us + self.sequence * self.config.interval_us
        return {
            "event_id": event_id,
            "producer": "flow",
            "event_time_us": time_us,
            "ingest_time_us": time_us,
            "causation_id": None,
            "correlation_id": event_id,
        }

    def _account(self) -> str:
        return f"ACC-{self.rng.randrange(self.config.accounts) + 1:03d}"

    def _drift(self, symbol: str) -> int:
        mid = self.mids[symbol]
        mid += self.rng.choice((-1, 0, 0, 1)) * mid * TICK_BPS // 10_000
        self.mids[symbol] = mid
        return mid

    def _price(self, symbol: str, side: str, crossing: bool) -> int:
        mid = self._drift(symbol)
        tick = REFERENCE_MIDS[symbol] * TICK_BPS // 10_000
        offset = self.rng.randint(1, 5) * tick
        toward = offset if crossing else -offset
        return mid + toward if side == "BUY" else mid - toward

    def _new_order(self, **overrides: object) -> FlowCommand:
        account = self._account()
        symbol = self.rng.choice(self.config.symbols)
        side = self.rng.choice(("BUY", "SELL"))
        client_order_id = f"{self.config.run_id}-{self.sequence + 1}"
        order_type, tif = self.rng.choices(
            (("LIMIT", "GTC"), ("LIMIT", "IOC"), ("LIMIT", "FOK"), ("MARKET", "IOC")), weights=(70, 12, 5, 13)
        )[0]
        quantity = LOT_SIZES[symbol] * self.rng.randint(1, 20)
        price = None if order_type == "MARKET" else self._price(symbol, side, crossing=self.rng.random() < 0.45)
        record: Record = {
            "meta": self._meta(),
            "account": account,
            "order_id": order_id_for(account, client_order_id),
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": side,
            "order_type": order_type,
            "quantity": quantity,
            "price": price,
            "stop_price": None,
            "time_in_force": tif,
            "expire_time_us": None,
            "post_only": False,
            "reduce_only": False,
            "venue": None,
            "parent_order_id": None,
            "execution": None,
        }
        record.update(overrides)
        if record["order_type"] == "LIMIT" and record["time_in_force"] == "GTC" and record["price"] is not None:
            self.open_orders.append(
                _Open(account, record["order_id"], symbol, side, record["quantity"], record["price"])
            )
        return FlowCommand(account, NEW_ORDER, record)

    def _pick_open(self) -> _Open:
        return self.open_orders.pop(self.rng.randrange(len(self.open_orders)))

    def _cancel(self) -> FlowCommand:
        order = self._pick_open()
        record = {"meta": self._meta(), "account": order.account, "order_id": order.order_id, "symbol": order.symbol}
        return FlowCommand(order.account, CANCEL_ORDER, record)

    def _amend(self) -> FlowCommand:
        order = self._pick_open()
        quantity = max(
            LOT_SIZES[order.symbol], order.quantity + self.rng.choice((-2, -1, 1, 2)) * LOT_SIZES[order.symbol]
        )
        record = {
            "meta": self._meta(),
            "account": order.account,
            "order_id": order.order_id,
            "quantity": quantity,
            "price": None,
            "stop_price": None,
        }
        self.open_orders.append(_Open(order.account, order.order_id, order.symbol, order.side, quantity, order.price))
        return FlowCommand(order.account, AMEND_ORDER, record)

    def _invalid(self) -> list[FlowCommand]:
        kind = self.rng.randrange(4)
        if kind == 0:  # a limit order without a price
            return [self._new_order(order_type="LIMIT", time_in_force="GTC", price=None)]
        if kind == 1:  # a zero quantity
            return [self._new_order(quantity=0)]
        if kind == 2:  # a cancel of an order that does not exist
            account = self._account()
            record = {
                "meta": self._meta(),
                "account": account,
                "order_id": f"no-such-order-{self.sequence}",
                "symbol": None,
            }
            return [FlowCommand(account, CANCEL_ORDER, record)]
        # a resubmitted client order id: the same order id, so never a second order
        command = self._new_order()
        again = dict(command.record, meta=self._meta())
        return [command, FlowCommand(command.key, NEW_ORDER, again)]
