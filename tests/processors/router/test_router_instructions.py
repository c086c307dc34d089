"""Execution instructions validated on arrival: a parent with bad parameters, or an algorithm this router does
not run, is rejected with the reason, never sent as a plain order."""

from __future__ import annotations

from typing import Any

import pytest
from _router_builders import T0, P, Q, children, deep_book, engine, instruction, last_event, parent, send_all, ticks

from processors.algos import schedule
from processors.algos.plan import InvalidInstruction, plan_for
from tests.kit.events import new_order_record
from topics.catalogue import VENUE_ORDERS

IS = "IMPLEMENTATION_SHORTFALL"
LIMIT = {"order_type": "LIMIT", "price": 100 * P}


@pytest.mark.parametrize(
    ("execution", "terms", "fragment"),
    [
        (instruction("TWAP"), {}, "TWAP needs end_time or params.duration_s"),
        (instruction("TWAP", end_time_us=T0 + 10, params={"duration_s": "5"}), {}, "exactly one"),
        (instruction("TWAP", params={"duration_s": "-1"}), {}, "params.duration_s must be between"),
        (instruction("TWAP", params={"duration_s": "60", "slices": "0"}), {}, "params.slices must be between"),
        (instruction("TWAP", params={"duration_s": "60", "slices": "2.5"}), {}, "whole number"),
        (instruction("TWAP", params={"duration_s": "60", "randomise_pct": "80"}), {}, "randomise_pct"),
        (instruction("TWAP", params={"duration_s": "60", "min_slice": "x"}), {}, "params.min_slice must be a quantity"),
        (instruction("TWAP", params={"duration_s": "60", "speed": "fast"}), {}, "takes no parameter(s) speed"),
        (instruction("TWAP", participation_bps=10, params={"duration_s": "60"}), {}, "does not take participation"),
        (instruction("TWAP", end_time_us=T0 - 1), {}, "must be after the start"),
        (instruction("POV"), {}, "POV needs participation_bps"),
        (instruction("POV", participation_bps=9_000), {}, "POV needs participation_bps"),
        (instruction("POV", participation_bps=1_000, params={"max_bps": "500"}), {}, "params.max_bps"),
        (instruction("ICEBERG", display_quantity=Q), {}, "ICEBERG works LIMIT parents only"),
        (instruction("ICEBERG"), {"order_type": "LIMIT", "price": 100 * P}, "needs display_quantity"),
        (instruction("ICEBERG", display_quantity=20 * Q), {"order_type": "LIMIT", "price": 100 * P}, "at most"),
        (instruction("SMART", participation_bps=10), {}, "SMART does not take participation_bps"),
        (instruction("SMART", params={"split": "even"}), {}, "SMART takes no parameter(s) split"),
        (instruction("TWAP", params={"duration_s": "60"}), {"time_in_force": "IOC"}, "GTC, DAY or GTD"),
        (instruction("TWAP", params={"duration_s": "60"}), {"order_type": "STOP", "stop_price": 100 * P}, "MARKET or"),
        (instruction("VWAP"), {}, "VWAP needs end_time or params.duration_s"),
        (instruction("VWAP", params={"duration_s": "60", "profile": "1,x"}), {}, "comma-separated numbers"),
        (instruction("VWAP", params={"duration_s": "60", "profile": "0,0"}), {}, "positive sum"),
        (instruction("VWAP", params={"duration_s": "60", "profile": "1,-1,3"}), {}, "0 or more"),
        (instruction("VWAP", params={"duration_s": "60", "profile": "1,2", "slices": "3"}), {}, "params.slices"),
        (instruction("VWAP", display_quantity=Q, params={"duration_s": "60"}), {}, "does not take display_quantity"),
        (instruction(IS, params={"duration_s": "60", "volatility": "0.03"}), {}, "needs params.urgency"),
        (instruction(IS, params={"duration_s": "60", "volatility": "-1", "urgency": "1"}), {}, "params.volatility"),
        (instruction(IS, params={"duration_s": "60", "volatility": "0.03", "urgency": "-2"}), {}, "params.urgency"),
        (instruction(IS, params={"volatility": "0.03", "urgency": "1"}), {}, "needs end_time or params.duration_s"),
        (instruction(IS, params={"duration_s": "86400", "volatility": "1", "urgency": "1e6"}), {}, "kappa*T = 1000"),
        (instruction("PEG"), {}, "PEG works LIMIT parents only"),
        (instruction("PEG", params={"peg": "last"}), LIMIT, "params.peg must be primary, mid or market, not 'last'"),
        (instruction("PEG", display_quantity=Q), LIMIT, "PEG does not take display_quantity"),
        (instruction("SNIPER"), {}, "SNIPER works LIMIT parents only"),
        (instruction("SNIPER", peg_offset=P), LIMIT, "SNIPER does not take peg_offset"),
        (instruction("SNIPER", params={"min_take": "0"}), LIMIT, "params.min_take must be positive"),
    ],
)
def test_a_bad_instruction_rejects_the_parent_with_the_reason(
    execution: dict[str, Any], terms: dict[str, Any], fragment: str
) -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent("bad", execution, **terms)
    path.send(new)
    send_all(path, ticks(T0, T0 + 5 * 1_000_000))
    outcome = last_event(path, parent_id)
    assert (outcome["status"], outcome["reject_reason"]) == ("REJECTED", "INVALID_ORDER")
    assert fragment in outcome["detail"]
    assert not children(path, parent_id) and not path.outputs.get(VENUE_ORDERS), "never sent as a plain order"


def test_plans_fill_in_documented_defaults() -> None:
    record = new_order_record("o", "c", execution=instruction("TWAP", params={"duration_s": "30"}))
    plan = plan_for(record)
    assert plan == {
        "algo": "TWAP",
        "start_us": T0,
        "end_us": T0 + 30_000_000,
        "slices": 10,
        "min_slice": 0,
        "randomise_pct": 0.0,
    }
    with pytest.raises(InvalidInstruction):
        plan_for(new_order_record("o", "c", execution=instruction("NOPE")))


def test_the_schedulers() -> None:
    twap = {"start_us": 0, "end_us": 100, "slices": 4, "randomise_pct": 0.0}
    assert [schedule.twap_slice_time(twap, "p", n) for n in range(4)] == [0, 25, 50, 75]
    assert schedule.twap_slices_due(twap, "p", 60, 0) == 3
    assert [schedule.twap_target(twap, 10, n) for n in range(5)] == [0, 2, 5, 7, 10]
    pov = {"min_bps": 500, "target_bps": 1_000, "max_bps": 2_000}
    assert schedule.pov_bounds(pov, 1_000) == (50, 100, 200)
    iceberg = {"display": 100, "variance_pct": 20.0}
    sizes = [schedule.iceberg_slice(iceberg, "p", n) for n in range(50)]
    assert all(80 <= size <= 100 for size in sizes) and len(set(sizes)) > 1
