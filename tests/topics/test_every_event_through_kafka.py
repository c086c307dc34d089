"""Every event type crosses a real Kafka topic as Avro and comes back equal."""

from __future__ import annotations

import pytest

from schemas.codec import default_codec
from settings import Settings
from tests.kit.round_trip import round_trip_every_event

pytestmark = pytest.mark.integration


def test_every_event_type_round_trips_through_its_catalogue_topic(catalogue_topics: Settings) -> None:
    rows = round_trip_every_event(catalogue_topics)
    assert {row["schema"] for row in rows} == set(default_codec().event_schema_names())
    assert [row["schema"] for row in rows if not row["equal"]] == []
