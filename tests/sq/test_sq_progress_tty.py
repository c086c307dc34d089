"""`sq flow --json` as a person runs it in a terminal and as a script pipes it: the bar goes to a terminal's
stderr only, and stdout is the JSON document alone, byte for byte, either way (real broker)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading

import pytest

from settings import Settings

pytestmark = pytest.mark.integration

ORDERS = 300


def _environment(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **settings.as_env()}
    env.pop("PYTHONSAFEPATH", None)  # `-m sq.cli` must find the repo's packages from the working directory
    env.pop("FORCE_COLOR", None)
    return env


def _flow(settings: Settings, stderr: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "sq.cli", "flow", "--orders", str(ORDERS), "--seed", "3", "--json"]
    return subprocess.Popen(argv, env=_environment(settings), stdout=subprocess.PIPE, stderr=stderr)


def _assert_clean_json(stdout: bytes) -> None:
    assert b"\x1b" not in stdout and b"\r" not in stdout
    assert stdout.endswith(b"}\n")
    summary = json.loads(stdout)  # the whole of stdout is one document
    assert summary["by_type"]["NewOrder"] >= ORDERS  # invalid new orders come on top of --orders valid ones


def test_with_stderr_on_a_terminal_the_bar_is_drawn_there_and_stdout_is_only_json(catalogue_topics: Settings) -> None:
    leader, follower = pty.openpty()
    drawn = bytearray()

    def read_terminal() -> None:  # drain the terminal as the child writes, or its writes would block
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    flow = _flow(catalogue_topics, follower)
    os.close(follower)
    stdout, _ = flow.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(leader)
    assert flow.returncode == 0, bytes(drawn)[-2000:]
    _assert_clean_json(stdout)
    assert b"\x1b[" in drawn and b"new orders" in drawn  # the bar, drawn with terminal control codes


def test_with_stderr_piped_there_is_no_bar_and_stdout_is_only_json(catalogue_topics: Settings) -> None:
    flow = _flow(catalogue_topics, subprocess.PIPE)
    stdout, stderr = flow.communicate(timeout=120)
    assert flow.returncode == 0, stderr[-2000:]
    _assert_clean_json(stdout)
    assert b"\x1b" not in stderr and b"\r" not in stderr
