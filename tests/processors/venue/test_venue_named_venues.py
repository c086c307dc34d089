"""Several named simulated venues configured from ``SQ_VENUES``: each its own books, fees and latency, all
mirroring the symbol's market feed; the runtime builds the venue core with them."""

from __future__ import annotations

import pytest
from _market_builders import snapshot
from _venue_builders import T0, P, Q, S, Sim, fills, kinds

from processors.runtime.registry import stage_factories
from processors.venue import DEFAULT_CONFIG, VenueConfig, VenueCore
from processors.venue.config import venue_config
from processors.venue.matching import fee_for
from schemas.scales import Price
from settings import Settings, VenueSpec, parse_venues

VENUES = "fast=1/4/0,cheap=-1/3/500"


def named_sim() -> Sim:
    return Sim(VenueCore(venue_config(parse_venues(VENUES))))


def test_sq_venues_parses_into_named_specs_and_back() -> None:
    specs = parse_venues(VENUES)
    assert specs == (VenueSpec("fast", 1, 4, 0), VenueSpec("cheap", -1, 3, 500))
    settings = Settings.from_env({"SQ_VENUES": VENUES})
    assert settings.venues == specs
    assert Settings.from_env(settings.as_env()).venues == specs
    assert Settings.from_env({}).venues == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fast", "name=maker_bps/taker_bps/latency_us"),
        ("fast=1/4", "name=maker_bps/taker_bps/latency_us"),
        ("=1/4/0", "name=maker_bps/taker_bps/latency_us"),
        ("fast=1/x/0", "whole numbers"),
        ("fast=1/4/-1", "must not be negative"),
        ("a|b=1/4/0", "must not contain"),
        ("fast=1/4/0,fast=2/5/0", "twice"),
    ],
)
def test_a_bad_sq_venues_is_refused_with_the_part_named(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env({"SQ_VENUES": text})


def test_no_venues_configured_keeps_the_default_venue_config() -> None:
    assert venue_config(()) is DEFAULT_CONFIG
    config = venue_config(parse_venues(VENUES))
    assert (config.latency_for("cheap"), config.latency_for("fast"), config.latency_for("other")) == (500, 0, 0)
    assert config.fees_for("other") == DEFAULT_CONFIG.default_fees
    with pytest.raises(ValueError, match="of cheap must not be negative"):
        VenueConfig(latency_by_venue={"cheap": -1})


def test_each_named_venue_charges_its_own_fees_on_its_own_book() -> None:
    sim = named_sim()
    sim.new("s-fast", "SELL", 1 * Q, 100 * P, venue="fast", t=T0)
    fast = sim.new("b-fast", "BUY", 1 * Q, 100 * P, venue="fast", account="acc-2", t=T0)
    assert [(r["venue"], r["liquidity"], r["fee"]) for r in fast if r["exec_type"] == "FILL"] == [
        ("fast", "TAKER", fee_for(Price(100 * P), 1 * Q, 4)),
        ("fast", "MAKER", fee_for(Price(100 * P), 1 * Q, 1)),
    ]
    assert sim.new("s-cheap", "SELL", 1 * Q, 100 * P, venue="cheap", t=T0) == []  # waits 500 us
    assert sim.new("b-cheap", "BUY", 1 * Q, 100 * P, venue="cheap", account="acc-2", t=T0 + 400) == []
    reports = sim.new("later", "BUY", 1 * Q, 1 * P, venue="fast", t=T0 + S)  # releases both, in arrival order
    cheap = [r for r in reports if r["venue"] == "cheap" and r["exec_type"] == "FILL"]
    assert [(r["order_id"], r["liquidity"], r["fee"]) for r in cheap] == [
        ("b-cheap", "TAKER", fee_for(Price(100 * P), 1 * Q, 3)),
        ("s-cheap", "MAKER", fee_for(Price(100 * P), 1 * Q, -1)),  # a rebate
    ]
    assert {r["meta"]["event_time_us"] for r in cheap} == {T0 + 900}  # handled at arrival + its latency
    assert sim.depth("BUY", venue="fast") == [(1 * P, 1 * Q, 1)]
    assert sim.depth("SELL", venue="cheap") == []


def test_a_faster_venue_handles_its_message_while_a_slower_one_waits() -> None:
    sim = named_sim()
    sim.send(snapshot([(99 * P, 5 * Q)], [(100 * P, 5 * Q)]))
    assert sim.new("slow", "BUY", 1 * Q, None, order_type="MARKET", venue="cheap", t=T0) == []
    quick = sim.new("quick", "BUY", 1 * Q, None, order_type="MARKET", venue="fast", t=T0 + 100)
    assert kinds(quick) == [("quick", "ACK"), ("quick", "FILL")]  # no latency: handled on arrival
    assert fills(quick) == [("quick", "TAKER", 1 * Q, 100 * P)]  # from the market feed both venues mirror
    released = sim.new("next", "BUY", 1 * Q, 90 * P, venue="fast", t=T0 + S)
    assert kinds(released)[:2] == [("slow", "ACK"), ("slow", "FILL")]
    assert released[0]["venue"] == "cheap"
    assert released[0]["meta"]["event_time_us"] == T0 + 500


def test_the_runtime_builds_the_venue_core_with_the_configured_venues() -> None:
    configured = Settings.from_env({"SQ_VENUES": VENUES})
    (factory,) = stage_factories("venue", configured)
    core = factory()
    assert isinstance(core, VenueCore)
    assert core.config.fees_for("cheap").maker_fee_bps == -1
    (default_factory,) = stage_factories("venue", Settings.from_env({}))
    default_core = default_factory()
    assert isinstance(default_core, VenueCore)
    assert default_core.config == DEFAULT_CONFIG
