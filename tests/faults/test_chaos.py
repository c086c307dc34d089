"""`sq chaos`: faults injected into a running order path at a bounded size (`make soak` runs the large one).

Each mode runs as a user runs it, on the session's broker and database server (its own topics and database),
and must report the faults it injected and not a single violated invariant.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from chaos_cli import assert_clean, run_chaos

from connectors.order_flow import FlowConfig, OrderFlow
from deploy.chaos import ChaosOptions, kill_schedule, poison_schedule, row_differences
from settings import Settings

pytestmark = pytest.mark.integration

# The test size: 20,000 orders with 5 kills per processor (docs/RELIABILITY.md); `make soak` runs 100,000
# and 20.
CRASH_ORDERS = int(os.environ.get("SQ_CHAOS_CRASH_ORDERS", "20000"))
CRASH_KILLS = int(os.environ.get("SQ_CHAOS_CRASH_KILLS", "5"))


def _budget_s(orders: int) -> float:
    """Seconds a run may take: the flow at the default 500 commands/s (about 1.33 commands per order), twice
    over, plus starting, settling and the rebuild; `make soak` runs the sizes up to 100,000 orders."""
    return 300 + 2 * 1.4 * orders / 500


@pytest.mark.timeout(_budget_s(CRASH_ORDERS) + 60)
def test_crash_every_processor_killed_at_random_points(infra_settings: Settings) -> None:
    """The split topology: both stages SIGKILLed mid-flow, restarted by the supervisor; nothing lost or doubled,
    and the live projections equal a rebuild from the log."""
    code, report, stderr = run_chaos(
        infra_settings.as_env(),
        "crash",
        f"--orders={CRASH_ORDERS}",
        f"--kills={CRASH_KILLS}",
        "--seed=11",
        "--topology=split",
        "--rate=1000",
        timeout_s=_budget_s(CRASH_ORDERS),
    )
    assert code == 0, stderr[-4000:]
    assert_clean(report, faults=2 * CRASH_KILLS)
    details = report["details"]
    assert isinstance(details, dict)
    assert sum(details["restarts"].values()) == 2 * CRASH_KILLS
    assert details["projections"]["rows"]["fills"] > 0


def test_kill_points_are_seeded_and_spread_over_every_stage() -> None:
    first = kill_schedule(("accounts", "venues"), 5, 10_000, seed=3)
    assert first == kill_schedule(("accounts", "venues"), 5, 10_000, seed=3)
    assert first != kill_schedule(("accounts", "venues"), 5, 10_000, seed=4)
    assert [stage for _, stage, _ in first].count("venues") == 5
    assert all(0 <= at < 10_000 and worker == 0 for at, _, worker in first)
    spread = kill_schedule(("accounts", "venues"), 5, 10_000, seed=3, workers=3)
    assert {worker for _, _, worker in spread} <= {0, 1, 2} and len({worker for _, _, worker in spread}) > 1


def test_projection_differences_count_missing_extra_and_repeated_rows() -> None:
    live = {"fills": [(1, "a"), (2, "b"), (2, "b")]}
    assert row_differences(live, live) == 0
    assert row_differences(live, {"fills": [(1, "a"), (2, "b")]}) == 1
    assert row_differences(live, {"fills": [(1, "a"), (3, "c"), (2, "b"), (2, "b")]}) == 1
    assert row_differences({"fills": []}, {"fills": [(1, "a")], "orders": [(9,)]}) == 2


@pytest.mark.parametrize("bad", [{"orders": 0}, {"orders": 10, "kills": -1}, {"orders": 10, "topology": "nope"}])
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"orders|kills|topolog"):
        ChaosOptions(**bad)  # type: ignore[arg-type]


POISON_ORDERS = int(os.environ.get("SQ_CHAOS_POISON_ORDERS", "2000"))
POISON_PER_KIND = int(os.environ.get("SQ_CHAOS_POISON_PER_KIND", "1430"))  # the 10,000 malformed records


@pytest.mark.timeout(_budget_s(POISON_ORDERS) + 60)
def test_poison_every_malformed_kind_is_dead_lettered_and_changes_nothing(infra_settings: Settings) -> None:
    """Malformed records of every kind and absurd commands in one account's flow: each malformed one
    dead-lettered with its reason, each absurd one rejected, the worker never restarted, and the outputs
    those of the same flow without them (run in memory)."""
    code, report, stderr = run_chaos(
        infra_settings.as_env(),
        "poison",
        f"--orders={POISON_ORDERS}",
        f"--per-kind={POISON_PER_KIND}",
        timeout_s=_budget_s(POISON_ORDERS),
    )
    assert code == 0, stderr[-4000:]
    details = report["details"]
    assert isinstance(details, dict)
    malformed = sum(details["malformed"].values())
    assert len(details["malformed"]) == 8 and details["absurd"] == 5 * POISON_PER_KIND
    assert_clean(report, faults=malformed + details["absurd"])
    assert details["dead_letters"] == details["dead_letters_expected"]
    assert set(details["dead_letters"]) == {
        "UNDECODABLE",
        "UNKNOWN_SCHEMA",
        "UNEXPECTED_SCHEMA",
        "KEY_MISMATCH",
        "INVALID_RECORD",
        "OVERSIZED",
    }
    assert details["worker_restarts"] == 0 and details["absurd_accepted"] == []
    assert set(details["output_differences"].values()) == {0}


def test_poison_records_cover_every_kind_with_its_reason() -> None:
    commands = list(OrderFlow(FlowConfig(orders=20, accounts=1)).commands())
    good, absurd, bad, schedule = poison_schedule(commands, 3, random.Random(1))
    assert len(schedule) == len(good) + len(bad) and len(good) == len(absurd) + len(commands)
    assert Counter(record.reason for record in bad) == {
        "UNDECODABLE": 6,
        "UNKNOWN_SCHEMA": 3,
        "UNEXPECTED_SCHEMA": 3,
        "KEY_MISMATCH": 6,
        "INVALID_RECORD": 3,
        "OVERSIZED": 3,
    }
    assert {c.record["quantity"] for c in absurd} >= {0, -1, 2**62}


DATABASE_ORDERS = int(os.environ.get("SQ_CHAOS_DATABASE_ORDERS", "2000"))
DATABASE_CRASHES = int(os.environ.get("SQ_CHAOS_DATABASE_CRASHES", "2"))


@pytest.mark.timeout(_budget_s(DATABASE_ORDERS) + 60)
def test_database_crashes_are_survived_and_the_api_answers_503_meanwhile(infra_settings: Settings) -> None:
    """A PostgreSQL server of the test's own (never the session's) crashed and restarted under the whole stack:
    the sink resumes exactly once (projections equal a rebuild), the API answers 503 saying the database is
    away, never 500."""
    if infra_settings.external_database_url:
        pytest.skip("needs the local PostgreSQL programs: the session runs against an external database")
    code, report, stderr = run_chaos(
        infra_settings.as_env(),
        "database",
        f"--orders={DATABASE_ORDERS}",
        f"--kills={DATABASE_CRASHES}",
        "--seed=5",
        timeout_s=_budget_s(DATABASE_ORDERS),
    )
    assert code == 0, stderr[-4000:]
    assert_clean(report, faults=DATABASE_CRASHES)
    details = report["details"]
    assert isinstance(details, dict)
    statuses = details["api_statuses"]
    assert statuses.get("503", 0) > 0 and statuses.get("200", 0) > 0, statuses
    assert not any(code.startswith("5") and code != "503" for code in statuses), statuses
    assert details["api_unclear_answers"] == []
