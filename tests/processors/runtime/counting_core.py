"""A minimal core for testing the runtime itself: counts commands per account, emits each new count.

Its outputs make exactly-once visible: an account's emitted counts must be exactly 1, 2, …, n — a
duplicate is a replay applied twice, a gap a lost record.
"""

from __future__ import annotations

from typing import ClassVar

from processors.core import Emit, Event, Record, StateChanges, derived_meta
from processors.runtime.kafka_engine import EngineOptions, KafkaEngine
from schemas.examples import example_event
from schemas.names import POSITION
from settings import Settings
from topics.catalogue import ORDERS_COMMANDS, PORTFOLIO_POSITIONS


class CountingCore:
    name: ClassVar[str] = "counting"
    inputs: ClassVar[tuple[str, ...]] = (ORDERS_COMMANDS,)
    broadcast_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = (PORTFOLIO_POSITIONS,)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.dirty: set[str] = set()

    def apply(self, event: Event) -> list[Emit]:
        assert event.key is not None
        count = self.counts.get(event.key, 0) + 1
        self.counts[event.key] = count
        self.dirty.add(event.key)
        record = example_event(
            POSITION, meta=derived_meta(event, self.name, 0), account=event.key, symbol="COUNT", quantity=count
        )
        return [Emit(PORTFOLIO_POSITIONS, event.key, POSITION, record)]

    def state_changes(self) -> StateChanges:
        changes: StateChanges = {key: {"count": self.counts[key]} for key in self.dirty}
        self.dirty.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        self.counts[key] = state["count"]

    def broadcast_state(self) -> Record:
        return {}

    def restore_broadcast(self, state: Record) -> None:
        return None


def run_counting_engine(settings: Settings, worker: int, max_seconds: float) -> None:
    """Entry point of a worker process (spawned, so it can be SIGKILLed mid-transaction)."""
    KafkaEngine([CountingCore], settings, EngineOptions(worker=worker, batch_size=50)).run(max_seconds)


def run_counting_faust(settings: Settings, worker: int, max_seconds: float) -> None:
    from processors.runtime.faust_engine import run_faust_worker

    run_faust_worker(CountingCore, settings, worker, max_seconds)
