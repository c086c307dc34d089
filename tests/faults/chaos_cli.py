"""`sq chaos` as a user runs it: a subprocess of this checkout, its JSON report, and the clean-report check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

WORKTREE = Path(__file__).resolve().parents[2]


def run_chaos(env: Mapping[str, str], *args: str, timeout_s: float) -> tuple[int, dict[str, object], str]:
    """``sq chaos ARGS --json`` with ``env`` over this process's environment: exit code, report, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "sq.cli", "chaos", *args, "--json"],
        cwd=WORKTREE,
        env={**os.environ, **env, "PYTHONPATH": str(WORKTREE)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def assert_clean(report: dict[str, object], faults: int) -> None:
    """Every fault injected, one outcome per command, and not one invariant violated."""
    assert report["faults"] == faults
    assert report["commands"] == report["outcomes"]
    assert (report["lost"], report["duplicated"], report["mismatches"]) == (0, 0, 0)
    assert report["ok"] is True
