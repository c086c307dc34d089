"""Every event type survives encode -> decode unchanged, in the single-object wire format."""

from __future__ import annotations

import pytest

from schemas.codec import HEADER_SIZE, MARKER, Codec, Decoded, default_codec
from schemas.examples import example_event, example_events
from schemas.names import CANCEL_ORDER, EVENT_META, NEW_ORDER, RISK_DECISION, TRADE

CODEC = default_codec()
EVENT_NAMES = CODEC.event_schema_names()


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification defines it, written out independently of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for byte in range(256):
        fp = byte
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_every_event_schema_has_an_example() -> None:
    assert sorted(example_events()) == sorted(EVENT_NAMES)
    assert len(EVENT_NAMES) == 20


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_example_round_trips(name: str) -> None:
    record = example_event(name)
    data = CODEC.encode(name, record)
    assert CODEC.decode(data) == Decoded(name, record)
    assert CODEC.decode(data, reader=name).record == record


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_header_is_marker_and_little_endian_crc64_of_canonical_form(name: str) -> None:
    data = CODEC.encode(name, example_event(name))
    schema = CODEC.registry.get(name)
    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:HEADER_SIZE] == CODEC.fingerprint(name)
    assert int.from_bytes(CODEC.fingerprint(name), "little") == crc64_avro(schema.canonical_form.encode())


def test_crc64_matches_the_avro_specification_test_vectors() -> None:
    # From Avro's share/test/data/schema-tests.txt (signed 64-bit values there, unsigned here).
    assert crc64_avro(b'"null"') == 7195948357588979594
    assert crc64_avro(b'"int"') == 8247732601305521295
    assert crc64_avro(b'"string"') == 2**64 - 8142146995180207161


def test_canonical_form_inlines_shared_types_once() -> None:
    form = CODEC.registry.get(RISK_DECISION).canonical_form
    assert form.count(f'"name":"{EVENT_META}","type":"record"') == 1
    assert f'"type":"{EVENT_META}"' in form  # later uses are references
    assert "doc" not in form and "sq.scale" not in form and "logicalType" not in form


def test_fields_with_defaults_may_be_left_out() -> None:
    name = NEW_ORDER
    full = example_event(name, execution=None)
    sparse = {key: value for key, value in full.items() if key not in {"post_only", "stop_price", "execution"}}
    decoded = CODEC.decode(CODEC.encode(name, sparse)).record
    assert decoded == {**full, "post_only": False}


def test_timestamps_stay_integer_microseconds() -> None:
    record = CODEC.decode(CODEC.encode(TRADE, example_event(TRADE))).record
    assert type(record["meta"]["event_time_us"]) is int


def test_union_of_records_is_a_name_record_tuple() -> None:
    name = RISK_DECISION
    cancel = example_event(CANCEL_ORDER)
    decision = example_event(name, command_type="CANCEL", command=(CANCEL_ORDER, cancel))
    assert CODEC.decode(CODEC.encode(name, decision)).record["command"] == (CANCEL_ORDER, cancel)


def test_examples_are_deterministic_and_numbered() -> None:
    assert example_events() == example_events()
    assert example_event(TRADE, seq=7)["meta"]["event_id"] == "evt-000007"


def test_example_overrides_must_name_fields() -> None:
    with pytest.raises(ValueError, match="has no field"):
        example_event(TRADE, prize=1)
    with pytest.raises(ValueError, match="no example"):
        example_event(EVENT_META)


def test_names() -> None:
    assert CODEC.resolve_name("Trade") == TRADE
    assert CODEC.resolve_name(TRADE) == TRADE
    assert EVENT_META in CODEC.schema_names()
    assert EVENT_META not in CODEC.event_schema_names()


def test_default_codec_is_loaded_once() -> None:
    assert default_codec() is CODEC
    assert isinstance(CODEC, Codec)
