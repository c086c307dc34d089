"""`sq chaos`: faults injected into a running order path at a bounded size (`make soak` runs the large one).

Each mode runs as a user runs it, on the session's broker and database server (its own topics and database),
and must report the faults it injected and not a single violated invariant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.chaos import ChaosOptions, kill_schedule, row_differences
from settings import Settings

pytestmark = pytest.mark.integration

WORKTREE = Path(__file__).resolve().parents[2]
CRASH_ORDERS = int(os.environ.get("SQ_CHAOS_CRASH_ORDERS", "2000"))
CRASH_KILLS = int(os.environ.get("SQ_CHAOS_CRASH_KILLS", "2"))


def _chaos(settings: Settings, *args: str, timeout_s: float) -> tuple[int, dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-m", "sq.cli", "chaos", *args, "--json"],
        cwd=WORKTREE,
        env={**os.environ, **settings.as_env(), "PYTHONPATH": str(WORKTREE)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def _assert_clean(report: dict[str, object], faults: int) -> None:
    assert report["faults"] == faults
    assert report["commands"] == report["outcomes"]
    assert (report["lost"], report["duplicated"], report["mismatches"]) == (0, 0, 0)
    assert report["ok"] is True


@pytest.mark.timeout(600)
def test_crash_every_processor_killed_at_random_points(infra_settings: Settings) -> None:
    """The split topology: both stages SIGKILLed mid-flow, restarted by the supervisor; nothing lost or doubled,
    and the live projections equal a rebuild from the log."""
    code, report, stderr = _chaos(
        infra_settings,
        "crash",
        f"--orders={CRASH_ORDERS}",
        f"--kills={CRASH_KILLS}",
        "--seed=11",
        "--topology=split",
        timeout_s=540,
    )
    assert code == 0, stderr[-4000:]
    _assert_clean(report, faults=2 * CRASH_KILLS)
    details = report["details"]
    assert isinstance(details, dict)
    assert sum(details["restarts"].values()) == 2 * CRASH_KILLS
    assert details["projections"]["rows"]["fills"] > 0


def test_kill_points_are_seeded_and_spread_over_every_stage() -> None:
    first = kill_schedule(("accounts", "venues"), 5, 10_000, seed=3)
    assert first == kill_schedule(("accounts", "venues"), 5, 10_000, seed=3)
    assert first != kill_schedule(("accounts", "venues"), 5, 10_000, seed=4)
    assert [stage for _, stage in first].count("venues") == 5
    assert all(0 <= at < 10_000 for at, _ in first)


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
