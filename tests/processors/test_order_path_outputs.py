"""The order path's outputs, frozen: a seeded busy flow through the memory engine must give the very same
bytes (every record with its derived ids, Avro-encoded as produced; every changelog record and broadcast
snapshot, JSON-encoded as written) as when the digests below were taken.

The digests were generated from the cores before their speed work (issue 12), so an optimisation that
changes one output byte fails here. The router (issue 16) joined the pipeline after: a flow of direct orders
must leave it without any state, and the state digest covers the cores it was taken with; the outputs are
hashed without their schema header (NewOrder v2 changed the fingerprint every decision carries), and the
digest of the bodies was taken with the code before the router. A change of behaviour that is meant to change
outputs updates them:
``.venv/bin/python -m tests.processors.test_order_path_outputs`` prints the current figures.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from connectors.order_flow import FlowConfig
from processors.core import Emit
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import core_class
from processors.runtime.state_codec import encode_state
from schemas.codec import default_codec
from tests.kit.flows import busy_flow_events

FLOW = FlowConfig(orders=4000, seed=12, accounts=5, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), run_id="digest")
STATE_EVERY = 250  # inputs between two state_changes() calls, as a runtime batch
HEADER_BYTES = 10  # Avro single-object encoding: the marker C3 01 and the writer schema's 8-byte fingerprint


@dataclass
class Digests:
    outputs: hashlib._Hash = field(default_factory=hashlib.sha256)
    state: hashlib._Hash = field(default_factory=hashlib.sha256)
    counts: Counter[str] = field(default_factory=Counter)
    router_state: list[str] = field(default_factory=list)  # keys the router wrote: none for direct orders


def _frame(digest: hashlib._Hash, *parts: bytes) -> None:
    for part in parts:
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)


def run_digests() -> Digests:
    codec = default_codec()
    engine = MemoryEngine([core_class(name) for name in ORDER_PATH], name="orderpath")
    digests = Digests()

    def outputs(emits: list[Emit]) -> None:
        for emit in emits:
            encoded = codec.encode(emit.schema, emit.record)
            # The Avro body, without the single-object header naming the writer schema's version: a schema that
            # evolves (NewOrder v2, issue 16) changes the header of every decision, not what the path decided.
            _frame(digests.outputs, emit.topic.encode(), emit.key.encode(), encoded[HEADER_BYTES:])
            digests.counts[f"{emit.topic} {emit.schema.rpartition('.')[2]}"] += 1

    def state() -> None:
        for core in engine.cores:
            if core.name == "router":
                digests.router_state += core.state_changes()
                continue
            for key, value in sorted(core.state_changes().items()):  # a set's order: sorted
                _frame(digests.state, core.name.encode(), key.encode(), encode_state(value) or b"-")
            _frame(digests.state, core.name.encode(), encode_state(core.broadcast_state()) or b"-")

    for n, event in enumerate(busy_flow_events(FLOW), start=1):
        outputs(engine.send(event))
        if n % STATE_EVERY == 0:
            state()
    state()
    return digests


# Bodies only since issue 16: this value is what main's code before the router gave, hashed the same way.
EXPECTED_OUTPUTS = "b39a5eb0dc2f37ecb9bf96284ab40afc12d39d8be1413088757f41546de14fa1"
# risk, portfolio and venue: per-order changelog records
EXPECTED_STATE = "7bff3541535b18096e05ac04f162dd271e33a74e400db733b307234a19091b95"
EXPECTED_COUNTS: dict[str, int] = {
    "control.events CircuitBreaker": 2,
    "orders.events OrderEvent": 14392,
    "portfolio.positions Position": 8013,
    "risk.decisions RiskDecision": 5235,
    "venue.executions ExecutionReport": 9157,
    "venue.orders VenueOrder": 3618,
}


def test_the_order_path_writes_the_frozen_outputs() -> None:
    digests = run_digests()
    assert dict(digests.counts) == EXPECTED_COUNTS
    assert digests.outputs.hexdigest() == EXPECTED_OUTPUTS
    assert digests.state.hexdigest() == EXPECTED_STATE
    assert digests.router_state == []


if __name__ == "__main__":
    found = run_digests()
    print(f'EXPECTED_OUTPUTS = "{found.outputs.hexdigest()}"')
    print(f'EXPECTED_STATE = "{found.state.hexdigest()}"')
    print(f"EXPECTED_COUNTS = {dict(sorted(found.counts.items()))}")
