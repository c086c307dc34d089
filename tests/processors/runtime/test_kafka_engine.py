"""Both engines against the real broker: a SIGKILL mid-stream, dead letters for bad input.

The kafka engine is exactly once: an account's committed counts are exactly 1..n. faust runs at-least-once:
nothing is lost, but records applied after its last offset commit are applied again after a crash.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter, defaultdict

import pytest
from counting_core import run_counting_engine, run_counting_faust

from processors.core import derived_event_id
from processors.runtime.kafka_engine import KafkaEngine
from processors.runtime.registry import stage_factories
from processors.runtime.worker import main as worker_main
from schemas.examples import example_event
from schemas.names import NEW_ORDER, POSITION
from settings import Settings
from topics.admin import MissingTopicsError
from topics.catalogue import DEAD_LETTERS, ORDERS_COMMANDS, PORTFOLIO_POSITIONS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")
ENGINES = {"kafka": run_counting_engine, "faust": run_counting_faust}


def produce_commands(settings: Settings, accounts: int, per_account: int) -> Counter[str]:
    producer = AvroProducer(settings)
    sent: Counter[str] = Counter()
    for i in range(per_account):
        for a in range(accounts):
            account = f"ACC-{a}"
            meta = example_event(NEW_ORDER)["meta"] | {"event_id": derived_event_id("test", account, i)}
            producer.produce(ORDERS_COMMANDS, account, NEW_ORDER, example_event(NEW_ORDER, meta=meta, account=account))
            sent[account] += 1
    producer.flush()
    return sent


def counts_by_account(settings: Settings) -> dict[str, list[int]]:
    counts: dict[str, list[int]] = defaultdict(list)
    for decoded in read_events(settings, PORTFOLIO_POSITIONS):
        assert decoded.schema == POSITION
        counts[decoded.record["account"]].append(decoded.record["quantity"])
    return counts


def wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_mid_stream_then_restart_loses_nothing(engine: str, catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    sent = produce_commands(settings, accounts=8, per_account=400)
    worker = SPAWN.Process(target=ENGINES[engine], args=(settings, 0, 120.0))
    worker.start()
    try:
        wait_for(lambda: sum(map(len, counts_by_account(settings).values())) > 600, 60, "the first outputs")
    finally:
        worker.kill()  # SIGKILL: no clean shutdown, a transaction may be open
        worker.join(10)
    restarted = SPAWN.Process(target=ENGINES[engine], args=(settings, 0, 300.0))
    restarted.start()

    def all_counted() -> bool:
        counts = counts_by_account(settings)
        return set(counts) == set(sent) and all(max(counts[a]) >= sent[a] for a in sent)

    try:
        wait_for(all_counted, 240, "every command counted")  # faust takes its time to rebalance on a busy machine
    finally:
        restarted.terminate()
        restarted.join(20)
    for account, counts in counts_by_account(settings).items():
        if engine == "kafka":
            assert counts == list(range(1, sent[account] + 1)), f"{account}: duplicates or gaps in committed output"
        else:  # at-least-once: a replayed record counts again, so counts may run past n, never stop short
            assert counts[-1] >= sent[account] and set(range(1, sent[account] + 1)) <= set(counts), account


@pytest.mark.parametrize("engine", ENGINES)
def test_undecodable_record_goes_to_dead_letters_and_the_stream_goes_on(
    engine: str, catalogue_topics: Settings
) -> None:
    settings = catalogue_topics
    producer = AvroProducer(settings)
    producer.produce_raw(ORDERS_COMMANDS, "ACC-0", b"not avro at all")
    producer.flush()
    sent = produce_commands(settings, accounts=1, per_account=3)
    worker = SPAWN.Process(target=ENGINES[engine], args=(settings, 0, 60.0))
    worker.start()
    try:
        wait_for(lambda: counts_by_account(settings).get("ACC-0") == [1, 2, 3], 60, "the good records")
    finally:
        worker.terminate()
        worker.join(20)
    letters = [d.record for d in read_events(settings, DEAD_LETTERS)]
    assert len(letters) == 1 and sum(sent.values()) == 3
    assert letters[0]["reason"] == "UNDECODABLE" and letters[0]["value"] == b"not avro at all"
    assert letters[0]["stage"] == "counting" and "expected marker c301" in letters[0]["detail"]


def test_a_stage_whose_output_topics_are_missing_says_which_and_how_to_create_them(settings: Settings) -> None:
    """Without the check every transaction failed on "Unknown topic" and the worker retried for ever."""
    # `settings` has a fresh prefix and no catalogue topics: the orderbook's md.book.top and md.analytics are missing
    with pytest.MonkeyPatch.context() as env:
        for name, value in settings.as_env().items():
            env.setenv(name, value)
        assert worker_main(["orderbook", "--max-seconds", "5"]) == 1


def test_the_missing_topics_error_names_them(settings: Settings) -> None:
    with pytest.raises(MissingTopicsError, match=r"md\.analytics, md\.book\.top.*sq topics create"):
        KafkaEngine(stage_factories("orderbook"), settings, name="orderbook")
