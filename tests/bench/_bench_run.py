"""Running a benchmark module on tiny sizes as a user would, and the checks every smoke test makes of its JSON
document (figures are measured, never judged: only present, positive, and without an error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from settings import PROJECT_ROOT, Settings
from topics.admin import admin_client


def run_bench(module: str, args: Sequence[str], settings: Settings, timeout_s: float) -> dict[str, Any]:
    """``python -m <module> <args> --json`` against the test broker; its JSON document."""
    env = dict(os.environ)
    if settings.external_kafka:
        env["KAFKA_BOOTSTRAP_SERVERS"] = settings.external_kafka
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document: dict[str, Any] = json.loads(result.stdout)  # stdout holds the JSON document only
    return document


def measured_figures(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The document's figures by (phase, name), each checked to be a positive value with a unit."""
    figures = {(f["phase"], f["name"]): f for f in document["figures"]}
    for key, figure in figures.items():
        assert figure["error"] is None, key
        assert figure["unit"], key
        assert isinstance(figure["value"], float | int) and figure["value"] > 0, (key, figure["value"])
    return figures


def assert_no_topics_left(document: dict[str, Any], settings: Settings) -> None:
    """The run deleted every topic it created (they share the document's topic prefix)."""
    prefix = document["topic_prefix"]
    assert prefix.startswith("bench-")
    live = admin_client(settings).list_topics(timeout=10).topics
    assert not [name for name in live if name.startswith(prefix)]
