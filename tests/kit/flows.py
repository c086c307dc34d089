"""Seeded order flows as the events a pipeline takes: each account's limits, then the commands; and the same
flow with market data and control events interleaved, to reach every input the order path takes."""

from __future__ import annotations

import random
from typing import Any

from connectors.order_flow import LOT_SIZES, REFERENCE_MIDS, FlowCommand, FlowConfig, OrderFlow
from processors.core import Event, derived_event_id
from schemas.names import CIRCUIT_BREAKER, DEPTH_SNAPSHOT, DEPTH_UPDATE, KILL_SWITCH, TRADE, TRADING_STATE_SET
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from topics.catalogue import CONTROL_EVENTS, MD_DEPTH, MD_TRADES, ORDERS_COMMANDS, RISK_LIMITS

MARKET_VENUE = "binance"


def command_event(command: FlowCommand) -> Event:
    """A flow command as the event a core is handed (the record's ingest time as the record's timestamp)."""
    topic = RISK_LIMITS if command.schema == RISK_LIMITS_SCHEMA else ORDERS_COMMANDS
    return Event(topic, command.key, command.schema, command.record, command.record["meta"]["ingest_time_us"])


def flow_events(config: FlowConfig) -> list[Event]:
    """The flow of ``config`` with every account's limits first, as `sq flow` sends it."""
    flow = OrderFlow(config)
    return [command_event(command) for command in (*flow.limits(), *flow.commands())]


class _Market:
    """Seeded market data and control events at the times of the flow's commands (see ``busy_flow_events``)."""

    def __init__(self, config: FlowConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed * 7919 + 1)
        self.sequence = 0
        self.mids = {symbol: REFERENCE_MIDS[symbol] for symbol in config.symbols}
        self.update_ids = dict.fromkeys(config.symbols, 1_000)

    def _meta(self, time_us: int, producer: str) -> dict[str, Any]:
        self.sequence += 1
        event_id = derived_event_id(f"{self.config.run_id}|{self.config.seed}", "market", self.sequence)
        return {
            "event_id": event_id,
            "producer": producer,
            "event_time_us": time_us,
            "ingest_time_us": time_us,
            "causation_id": None,
            "correlation_id": event_id,
        }

    def _tick(self, symbol: str) -> int:
        return REFERENCE_MIDS[symbol] // 10_000  # one basis point of the reference mid, as the flow steps

    def _levels(self, symbol: str, side: str, count: int) -> list[dict[str, int]]:
        sign = -1 if side == "BUY" else 1
        return [
            {
                "price": self.mids[symbol] + sign * (n + 1) * self._tick(symbol),
                "quantity": LOT_SIZES[symbol] * self.rng.randint(1, 30),
            }
            for n in range(count)
        ]

    def snapshot(self, symbol: str, time_us: int) -> Event:
        self.update_ids[symbol] += 10
        record = {
            "meta": self._meta(time_us, "feed"),
            "venue": MARKET_VENUE,
            "symbol": symbol,
            "last_update_id": self.update_ids[symbol],
            "bids": self._levels(symbol, "BUY", 5),
            "asks": self._levels(symbol, "SELL", 5),
        }
        return Event(MD_DEPTH, symbol, DEPTH_SNAPSHOT, record, time_us)

    def update(self, symbol: str, time_us: int) -> Event:
        previous = self.update_ids[symbol]
        last = self.update_ids[symbol] = previous + self.rng.randint(1, 3)
        side = self.rng.choice(("BUY", "SELL"))
        levels = self._levels(symbol, side, self.rng.randint(1, 3))
        if self.rng.random() < 0.3:
            levels[-1]["quantity"] = 0  # a level taken away
        record = {
            "meta": self._meta(time_us, "feed"),
            "venue": MARKET_VENUE,
            "symbol": symbol,
            "first_update_id": previous + 1,
            "last_update_id": last,
            "previous_last_update_id": previous,
            "bids": levels if side == "BUY" else [],
            "asks": levels if side == "SELL" else [],
        }
        return Event(MD_DEPTH, symbol, DEPTH_UPDATE, record, time_us)

    def trade(self, symbol: str, time_us: int) -> Event:
        meta = self._meta(time_us, "feed")
        record = {
            "meta": meta,
            "venue": MARKET_VENUE,
            "symbol": symbol,
            "trade_id": f"t-{self.sequence}",
            "price": self.mids[symbol] + self.rng.randint(-6, 6) * self._tick(symbol),
            "quantity": LOT_SIZES[symbol] * self.rng.randint(1, 40),
            "aggressor": self.rng.choice(("BUY", "SELL", None)),
        }
        return Event(MD_TRADES, symbol, TRADE, record, time_us)

    def control(self, schema: str, key: str, time_us: int, **fields: Any) -> Event:
        record = {"meta": self._meta(time_us, "ops"), **fields}
        return Event(CONTROL_EVENTS, key, schema, record, time_us)


def busy_flow_events(config: FlowConfig, market_every: int = 4) -> list[Event]:
    """The flow of ``flow_events`` with market data and control events interleaved, seeded: a depth snapshot of
    each symbol first; after every ``market_every``-th command a trade or a depth update of the command's
    symbol near its latest limit price (a fresh snapshot now and then, as a feed resyncs); and, at fixed
    shares of the flow, an account kill switch that cancels open orders (later cleared), a symbol kill switch,
    a REDUCE_ONLY trading state and a symbol circuit breaker tripped by another producer (later reset)."""
    events = flow_events(config)
    market = _Market(config)
    accounts = OrderFlow(config).accounts()
    start = events[len(accounts)].ingest_time_us if len(events) > len(accounts) else config.start_time_us
    busy = events[: len(accounts)] + [market.snapshot(symbol, start) for symbol in config.symbols]
    commands = events[len(accounts) :]
    marks = {round(len(commands) * share): name for share, name in _CONTROLS}
    for n, event in enumerate(commands):
        busy.append(event)
        time_us = event.ingest_time_us
        record = event.record
        symbol = record.get("symbol")
        if symbol in market.mids and record.get("price"):
            market.mids[symbol] = record["price"]
        if n in marks:
            busy.append(_control(market, marks[n], accounts, config.symbols, time_us))
        if n % market_every or symbol not in market.mids:
            continue
        roll = market.rng.random()
        if roll < 0.5:
            busy.append(market.trade(symbol, time_us))
        elif roll < 0.95:
            busy.append(market.update(symbol, time_us))
        else:
            busy.append(market.snapshot(symbol, time_us))
    return busy


# (share of the flow's commands, the control event sent there)
_CONTROLS = (
    (0.20, "account kill switch"),
    (0.25, "account kill switch cleared"),
    (0.40, "symbol kill switch"),
    (0.42, "symbol kill switch cleared"),
    (0.55, "reduce only"),
    (0.60, "active"),
    (0.70, "breaker tripped"),
    (0.75, "breaker reset"),
)


def _control(market: _Market, name: str, accounts: list[str], symbols: tuple[str, ...], time_us: int) -> Event:
    account, symbol = accounts[-1], symbols[-1]
    switch = {"actor": "ops:test", "detail": name}
    if name.startswith("account kill switch"):
        active = not name.endswith("cleared")
        fields = {"scope": "ACCOUNT", "target": account, "active": active, "cancel_open_orders": active, **switch}
        return market.control(KILL_SWITCH, f"ACCOUNT:{account}", time_us, **fields)
    if name.startswith("symbol kill switch"):
        active = not name.endswith("cleared")
        fields = {"scope": "SYMBOL", "target": symbol, "active": active, "cancel_open_orders": False, **switch}
        return market.control(KILL_SWITCH, f"SYMBOL:{symbol}", time_us, **fields)
    if name in ("reduce only", "active"):
        state = "REDUCE_ONLY" if name == "reduce only" else "ACTIVE"
        return market.control(TRADING_STATE_SET, account, time_us, account=account, trading_state=state, **switch)
    tripped = name == "breaker tripped"
    return market.control(
        CIRCUIT_BREAKER,
        f"SYMBOL:{symbols[0]}",
        time_us,
        scope="SYMBOL",
        target=symbols[0],
        state="TRIPPED" if tripped else "RESET",
        trading_state="REDUCE_ONLY" if tripped else "ACTIVE",
        trigger_count=5 if tripped else 0,
        window_us=60_000_000,
        cool_down_until_us=time_us + 30_000_000 if tripped else None,
        detail=name,
    )
