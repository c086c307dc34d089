"""The stream of orders, fills, positions and book tops over real HTTP, resumed after disconnects mid-flow: what the
client received, across its connections, is exactly what the log holds for its accounts and symbols, once each,
in each partition's order."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from conftest import OTHER, OWN, ApiEnv

from schemas.examples import example_event
from schemas.names import BOOK_TOP, ORDER_EVENT, POSITION
from tests.kit.sse import sse_frames
from topics.catalogue import MD_BOOK_TOP, ORDERS_EVENTS, PORTFOLIO_POSITIONS
from topics.client import AvroProducer, read_topic

pytestmark = pytest.mark.integration

ROUNDS = 300  # each round writes 6 records: an order event and a position for OWN and OTHER, two book tops
PAUSE_S = 0.004
CHANNELS: list[tuple[str, str | int | float | bool | None]] = [
    ("channel", c) for c in ("orders", "fills", "positions", "book_tops")
]
Position = tuple[str, int, int]


class Flow(threading.Thread):
    """Writes the rounds, paced, while the client connects and disconnects."""

    def __init__(self, env: ApiEnv, symbol: str, other_symbol: str) -> None:
        super().__init__(name="stream-flow", daemon=True)
        self.env, self.symbol, self.other_symbol = env, symbol, other_symbol
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = AvroProducer(self.env.settings)
            for n in range(ROUNDS):
                for account in (OWN, OTHER):
                    event: dict[str, Any] = example_event(ORDER_EVENT, account=account, order_id=f"o-{account}-{n}")
                    if n % 3:  # two in three are not fills
                        event.update(
                            event_type="ACCEPTED", status="NEW", last_quantity=0, last_price=None, fill_id=None
                        )
                    event["meta"] = dict(event["meta"], event_id=str(uuid.uuid4()))
                    producer.produce(ORDERS_EVENTS, account, ORDER_EVENT, event)
                    position = example_event(POSITION, account=account, symbol=self.symbol)
                    position["version"] = n + 1
                    producer.produce(PORTFOLIO_POSITIONS, f"{account}|{self.symbol}", POSITION, position)
                for symbol in (self.symbol, self.other_symbol):
                    top = example_event(BOOK_TOP, symbol=symbol)
                    top["sequence"] = n + 1
                    producer.produce(MD_BOOK_TOP, symbol, BOOK_TOP, top)
                time.sleep(PAUSE_S)
            producer.flush()
        except BaseException as error:  # reported by the test
            self.error = error


def _expected(env: ApiEnv, symbol: str) -> set[Position]:
    """The log's records the trader's stream carries: OWN's order events and positions, the symbol's book tops."""
    wanted = {ORDERS_EVENTS: OWN, PORTFOLIO_POSITIONS: f"{OWN}|{symbol}", MD_BOOK_TOP: symbol}  # topic → key
    return {
        (topic, record.partition, record.offset)
        for topic, key in wanted.items()
        for record in read_topic(env.settings, topic)
        if record.key == key
    }


def test_the_stream_resumes_after_disconnects_with_no_gap_and_no_duplicate(api_env: ApiEnv) -> None:
    symbol, other_symbol = (f"S{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    query = [*CHANNELS, ("symbol", symbol)]
    received: list[dict[str, Any]] = []
    flow = Flow(api_env, symbol, other_symbol)
    token: str | None = None
    connections = 0
    with api_env.client(api_env.keys.trader, timeout_s=30) as client:
        deadline = time.monotonic() + 120
        while len(received) < 3 * ROUNDS:  # OWN's order events and positions, the symbol's book tops
            assert time.monotonic() < deadline, f"received {len(received)} messages"
            # The first reconnection sends the token as ?resume=, the others as Last-Event-ID.
            params = query + ([("resume", token)] if token and connections == 1 else [])
            headers = {"Last-Event-ID": token} if token and connections != 1 else {}
            with client.stream("GET", "/v1/stream", params=params, headers=headers) as response:
                assert response.status_code == 200, response.read()
                frames = sse_frames(response.iter_lines())
                assert next(frames) == {":": "ready"}
                connections += 1
                if not flow.ident:
                    flow.start()  # every record is written after the first stream's start
                # Leave after a slice of the flow (mid-flow), or once everything is in.
                for count, frame in enumerate((f for f in frames if "event" in f), start=1):  # no keep-alives
                    assert flow.error is None, flow.error
                    received.append({"event": frame["event"], "id": frame["id"], **json.loads(frame["data"])})
                    token = frame["id"]
                    if count == 150 or len(received) >= 3 * ROUNDS:
                        break
    flow.join(30)
    assert flow.error is None, flow.error

    positions = [(m["topic"], m["partition"], m["offset"]) for m in received]
    assert len(positions) == len(set(positions)), "a message was delivered twice"
    assert set(positions) == _expected(api_env, symbol)  # and none is missing
    assert connections >= 4  # it did disconnect mid-flow, several times
    for topic_partition in {(t, p) for t, p, _ in positions}:  # each partition's records in the log's order
        offsets = [o for t, p, o in positions if (t, p) == topic_partition]
        assert offsets == sorted(offsets)
    by_channel = {m["event"] for m in received}
    assert by_channel == {"orders", "fills", "positions", "book_tops"}
    assert all(m["channel"] == m["event"] for m in received)
    assert all(m["data"]["account"] == OWN for m in received if m["channel"] in {"orders", "fills", "positions"})
    assert all(m["data"]["symbol"] == symbol for m in received if m["channel"] == "book_tops")
    assert all(m["data"]["event_type"] == "PARTIALLY_FILLED" for m in received if m["channel"] == "fills")


def test_a_resume_token_of_another_stream_or_book_tops_without_a_symbol_is_422(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.trader) as client:
        foreign = client.get("/v1/stream", params=[("channel", "positions"), ("resume", "orders.events/0/3")])
        no_symbol = client.get("/v1/stream", params=[("channel", "book_tops")])
        bad_channel = client.get("/v1/stream", params=[("channel", "trades")])
    assert foreign.status_code == 422 and foreign.json()["detail"][0]["loc"] == ["query", "resume"]
    assert no_symbol.status_code == 422 and no_symbol.json()["detail"][0]["loc"] == ["query", "symbol"]
    assert bad_channel.status_code == 422
