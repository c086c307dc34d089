"""Logs: one JSON object a line with the correlation id of the event being processed, or text for humans."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from processors.runtime.dead_letters import SourceRecord
from processors.runtime.logs import CORRELATION_ID, configure_logging
from processors.runtime.pipeline import Pipeline
from processors.runtime.step import InputCheck, apply_record
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER
from settings import Settings
from topics.catalogue import ORDERS_COMMANDS


@contextmanager
def _root_logger_restored() -> Iterator[None]:
    """A test configures the root logger; the next one (and pytest's capture) gets it back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        CORRELATION_ID.set(None)


def _settings(**env: str) -> Settings:
    return Settings.from_env(env)


def test_a_json_line_carries_the_correlation_id_and_the_extras() -> None:
    with _root_logger_restored():
        stream = io.StringIO()
        configure_logging(_settings(), "orderpath#0", stream)
        CORRELATION_ID.set("order-42")
        logging.getLogger("sq.test").warning("denied %s", "this", extra={"account": "A1"})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("sq.test").exception("failed")
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
        assert first["message"] == "denied this" and first["level"] == "WARNING" and first["role"] == "orderpath#0"
        assert first["correlation_id"] == "order-42" and first["account"] == "A1" and first["logger"] == "sq.test"
        assert "ValueError: boom" in second["exception"]


def test_text_for_humans_and_a_wrong_format_is_refused() -> None:
    with _root_logger_restored():
        stream = io.StringIO()
        configure_logging(_settings(SQ_LOG_FORMAT="text", SQ_LOG_LEVEL="debug"), "sink", stream)
        logging.getLogger("sq.test").debug("plain")
        line = stream.getvalue().strip()
        assert "[sink] DEBUG sq.test: plain" in line and not line.startswith("{")
        with pytest.raises(ValueError, match="SQ_LOG_FORMAT"):
            _settings(SQ_LOG_FORMAT="xml")


def test_the_runtime_sets_the_correlation_id_of_each_record_it_applies() -> None:
    with _root_logger_restored():
        from processors.risk.core import RiskCore

        codec = default_codec()
        record = example_event(NEW_ORDER)
        key = str(record["account"]).encode()
        source = SourceRecord(ORDERS_COMMANDS, 0, 0, key, codec.encode(NEW_ORDER, record), 0)
        apply_record(Pipeline([RiskCore()]), codec, InputCheck(ORDERS_COMMANDS, keyed=True), source)
        assert CORRELATION_ID.get() == record["meta"]["correlation_id"]
        garbage = SourceRecord(ORDERS_COMMANDS, 0, 1, key, b"not avro", 0)
        apply_record(Pipeline([RiskCore()]), codec, InputCheck(ORDERS_COMMANDS, keyed=True), garbage)
        assert CORRELATION_ID.get() is None  # a record that is no event belongs to no story


def test_configuring_again_replaces_only_its_own_handler() -> None:
    with _root_logger_restored():
        foreign = logging.NullHandler()
        logging.getLogger().addHandler(foreign)
        configure_logging(_settings(), "first")
        configure_logging(_settings(SQ_LOG_FORMAT="text"), "second")
        handlers = logging.getLogger().handlers
        assert foreign in handlers
        ours = [h for h in handlers if h.get_name() == "sq"]
        assert len(ours) == 1 and "[second]" in (ours[0].formatter._fmt or "")  # type: ignore[union-attr]
