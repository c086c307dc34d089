"""`sq demo`: the main job. Starts the broker and database, then shows every event type crossing Kafka.

Until the order path runs it proves the foundation end to end: each event schema's example record is
encoded, produced to its catalogue topic (under a throw-away prefix, so the real audit topics stay clean),
consumed back, decoded and compared.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import psycopg

from infra import stack
from schemas.codec import default_codec
from schemas.examples import example_events
from sq.errors import CommandError
from sq.output import emit_json, progress, say
from sq.settings import Settings, load_settings
from topics.admin import admin_client, create_topics
from topics.catalogue import CATALOGUE, TopicSpec
from topics.client import AvroProducer, read_topic


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline on the local broker and database")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    parser.add_argument("--keep-infra", action="store_true", help="leave the broker and database running")
    parser.set_defaults(handler=run)


def topic_for_schema(schema: str) -> TopicSpec:
    for spec in CATALOGUE:
        if schema in spec.value_schemas:
            return spec
    raise CommandError(f"no catalogue topic carries {schema}: add it to topics/catalogue.py")


def round_trip_every_event(settings: Settings) -> list[dict[str, Any]]:
    """Produce one example of every event type to its topic, read them back, compare."""
    codec = default_codec()
    examples = example_events()
    producer = AvroProducer(settings, codec)
    by_topic: dict[str, list[str]] = {}
    for schema, record in examples.items():
        spec = topic_for_schema(schema)
        producer.produce(spec.name, schema, schema, record)
        by_topic.setdefault(spec.name, []).append(schema)
    producer.flush()
    rows = []
    for topic, schemas in by_topic.items():
        received = {}
        for message in read_topic(settings, topic):
            assert message.value is not None and message.key is not None
            received[message.key] = (codec.decode(message.value), len(message.value))
        for schema in schemas:
            decoded, size = received.get(schema, (None, 0))
            rows.append({
                "schema": schema, "topic": topic, "bytes": size,
                "equal": decoded is not None and decoded.schema == schema and decoded.record == examples[schema],
            })  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    began = time.monotonic()
    progress("starting the broker and the database …")
    reports = stack.up(settings)
    for r in reports:
        progress(f"  {r.name:9} {r.address}  ready ({'started' if r.started else 'already running'})")
    with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
        row = conn.execute("select current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    created = create_topics(settings)
    progress(f"topics: {sum(r.outcome == 'created' for r in created)} created, {len(created)} in the catalogue")

    scratch = settings.with_topic_prefix(f"sq-demo-{uuid.uuid4().hex[:8]}.")
    scratch_topics = create_topics(scratch)
    progress(f"round trip of every event type through {len(scratch_topics)} scratch topics …")
    try:
        rows = round_trip_every_event(scratch)
    finally:
        admin_client(settings).delete_topics([r.topic for r in scratch_topics], operation_timeout=30)
    failures = [r for r in rows if not r["equal"]]
    summary = {
        "kafka": settings.bootstrap_servers,
        "postgres": {"url": settings.database_url, "server_version": server_version},
        "topics": len(created),
        "event_types": len(rows),
        "round_trip_equal": len(rows) - len(failures),
        "round_trip_failed": [r["schema"] for r in failures],
        "seconds": round(time.monotonic() - began, 2),
        "events": rows,
    }
    if args.json:
        emit_json(summary)
    else:
        for r in rows:
            say(f"  {'ok  ' if r['equal'] else 'FAIL'} {r['schema']:42} → {r['topic']:22} {r['bytes']:5} bytes")
        say(f"\nKafka {settings.bootstrap_servers} and PostgreSQL {server_version} are up; "
            f"{len(created)} catalogue topics exist.")  # fmt: skip
        say(f"{len(rows) - len(failures)} of {len(rows)} event types crossed Kafka as Avro and came back equal "
            f"in {summary['seconds']} s.")  # fmt: skip
        say("Stop the broker and database with `sq infra down`.")
    return 1 if failures else 0
