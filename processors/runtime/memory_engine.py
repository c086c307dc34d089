"""The memory engine: a pipeline of cores without Kafka, for tests, benchmarks, replay and backtest.

Events go in one at a time, in the order given; every output is kept per topic, in the order produced, as
the topics would hold it. ``checkpoint()`` does what a Kafka transaction commits besides the outputs: it
takes each core's changed keyed state (the changelog) and its broadcast state (the snapshot), and
``restarted()`` builds fresh cores from the last checkpoint, as a worker does after a crash, so a test can
show that a restart continues exactly where the checkpoint left off.

With ``codec``, every output is encoded (a record the schema refuses fails loudly) and every record handed
from core to core is decoded back from its bytes, so what a core sees is exactly what a Kafka hop gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from processors.core import Core, Emit, Event, Record
from processors.runtime.pipeline import Pipeline
from processors.runtime.state_codec import decode_state, encode_state
from schemas.codec import Codec


class MemoryEngine:
    """Runs one pipeline in process (see the module docstring)."""

    def __init__(
        self,
        core_factories: Sequence[Callable[[], Core]],
        *,
        codec: Codec | None = None,
        checkpoint_every: int | None = None,
        name: str | None = None,
        keep_outputs: bool = True,
    ) -> None:
        """``keep_outputs=False``: ``send`` only returns each event's outputs, ``outputs`` stays empty (a caller
        that takes what it needs as it goes, like the backtest, then holds no record it will not read)."""
        self._factories = tuple(core_factories)
        self.codec = codec
        self.checkpoint_every = checkpoint_every
        self.keep_outputs = keep_outputs
        self.pipeline = Pipeline([factory() for factory in self._factories], name, roundtrip=codec)
        self.outputs: dict[str, list[Emit]] = {}
        self.changelog: dict[str, dict[str, Record]] = {core.name: {} for core in self.pipeline.cores}
        self.snapshot: dict[str, Record] = {core.name: {} for core in self.pipeline.cores}
        self.events_in = 0
        self._since_checkpoint = 0

    @property
    def cores(self) -> tuple[Core, ...]:
        return self.pipeline.cores

    def core(self, name: str) -> Any:
        """The pipeline's core of that name (typed ``Any`` so tests reach its read accessors)."""
        for core in self.pipeline.cores:
            if core.name == name:
                return core
        raise KeyError(f"no core {name!r} in {self.pipeline.name}")

    def send(self, event: Event) -> list[Emit]:
        """Apply one input event; its outputs (also kept in ``outputs``)."""
        emits = self.pipeline.apply(event)
        codec = self.codec
        if codec is not None:
            for emit in emits:
                codec.encode(emit.schema, emit.record)
        if self.keep_outputs:
            outputs = self.outputs
            for emit in emits:
                found = outputs.get(emit.topic)
                if found is None:
                    outputs[emit.topic] = [emit]
                else:
                    found.append(emit)
        self.events_in += 1
        self._since_checkpoint += 1
        if self.checkpoint_every is not None and self._since_checkpoint >= self.checkpoint_every:
            self.checkpoint()
        return emits

    def run(self, events: Iterable[Event]) -> MemoryEngine:
        for event in events:
            self.send(event)
        return self

    def records(self, topic: str) -> list[Record]:
        return [emit.record for emit in self.outputs.get(topic, ())]

    def checkpoint(self) -> None:
        """Take every core's state changes into the changelog and its broadcast state into the snapshot."""
        for core in self.pipeline.cores:
            log = self.changelog[core.name]
            for key, state in core.state_changes().items():
                if state is None:
                    log.pop(key, None)
                else:
                    log[key] = _through_json(state)
            self.snapshot[core.name] = _through_json(core.broadcast_state())
        self._since_checkpoint = 0

    def restarted(self) -> MemoryEngine:
        """A new engine of fresh cores restored from the last checkpoint (broadcast snapshot, then keyed state),
        keeping the outputs so far: what a worker is after a crash right after that checkpoint."""
        engine = MemoryEngine(
            self._factories, codec=self.codec, checkpoint_every=self.checkpoint_every, keep_outputs=self.keep_outputs
        )
        for core in engine.pipeline.cores:
            core.restore_broadcast(self.snapshot[core.name])
            for key, state in self.changelog[core.name].items():
                core.restore(key, state)
        engine.changelog = {name: dict(log) for name, log in self.changelog.items()}
        engine.snapshot = dict(self.snapshot)
        engine.outputs = {topic: list(emits) for topic, emits in self.outputs.items()}
        engine.events_in = self.events_in
        return engine


def _through_json(state: Record) -> Record:
    """The state as a restore reads it back from Kafka (tuples become lists, keys strings)."""
    encoded = encode_state(state)
    assert encoded is not None
    return decode_state(encoded)
