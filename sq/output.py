"""How commands speak: human lines on stdout, or one JSON document with ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def say(line: str = "") -> None:
    print(line, flush=True)


def progress(line: str) -> None:
    """Progress goes to stderr so that ``--json`` output stays a clean document."""
    print(line, file=sys.stderr, flush=True)
