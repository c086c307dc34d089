"""Every event type through Kafka: one example of each produced to the catalogue topic that carries it, read
back and compared (the foundation check of tests/topics)."""

from __future__ import annotations

from typing import Any

from schemas.codec import default_codec
from schemas.examples import example_events
from settings import Settings
from topics.catalogue import CATALOGUE, TopicSpec
from topics.client import AvroProducer, read_topic


def topic_for_schema(schema: str) -> TopicSpec:
    for spec in CATALOGUE:
        if schema in spec.value_schemas:
            return spec
    raise LookupError(f"no catalogue topic carries {schema}: add it to topics/catalogue.py")


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
            rows.append(
                {
                    "schema": schema,
                    "topic": topic,
                    "bytes": size,
                    "equal": decoded is not None and decoded.schema == schema and decoded.record == examples[schema],
                }
            )
    return rows
