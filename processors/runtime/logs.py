"""Logs of every process: one JSON object a line (``SQ_LOG_FORMAT=json``, the default) or text for humans.

A JSON line carries the time, level, logger, the process's role (``orderpath#0``, ``sink``, ``api`` …), the
message, the exception when there is one, and the correlation id of the event being processed: the runtime
sets it (``CORRELATION_ID``) for each record it applies, so a warning raised deep inside a core names the order
whose story it belongs to, and ``grep`` on one id follows an order through every process's log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

from settings import Settings

CORRELATION_ID: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar("sq_correlation_id", default=None)
_STANDARD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({})))
QUIET_LIBRARIES: Final = ("httpx", "httpcore")  # a line per HTTP request at INFO
HANDLER_NAME: Final = "sq"


class JsonFormatter(logging.Formatter):
    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "role": self.role,
            "message": record.getMessage(),
        }
        correlation = getattr(record, "correlation_id", None) or CORRELATION_ID.get()
        if correlation is not None:
            line["correlation_id"] = correlation
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        for name, value in vars(record).items():  # extra={...} of the call
            if name not in _STANDARD_ATTRIBUTES and name not in line and name != "correlation_id":
                line[name] = value if isinstance(value, str | int | float | bool) or value is None else repr(value)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, role: str) -> None:
        super().__init__(f"%(asctime)s [{role}] %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        correlation = CORRELATION_ID.get()
        return text if correlation is None else f"{text} (correlation {correlation})"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last resort does): a command run
    in process by a test keeps logging to the test's stderr, not to a captured stream since closed."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr


def configure_logging(settings: Settings, role: str, stream: TextIO | None = None) -> None:
    """The root logger of this process: one handler on stderr (or ``stream``), in the format and at the level of
    the settings. It replaces the handler an earlier call installed, and only that one (a host's own handlers,
    pytest's log capture, stay)."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter(role) if settings.log_format == "json" else TextFormatter(role))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
