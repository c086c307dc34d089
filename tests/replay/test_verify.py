"""`sq verify`'s pure checks: each invariant, broken on purpose, is reported; a clean log passes."""

from __future__ import annotations

from typing import Any

from replay.verify import OrderPathLog, verify
from schemas.names import CANCEL_ORDER, NEW_ORDER


def command(event_id: str, order_id: str) -> dict[str, Any]:
    return {"meta": {"event_id": event_id}, "order_id": order_id}


def decision(event_id: str, command_record: dict[str, Any], approved: bool = True) -> dict[str, Any]:
    return {"meta": {"event_id": event_id}, "command": (NEW_ORDER, command_record), "approved": approved}


def order_event(order_id: str, event_type: str, status: str, command_id: str | None = None, **fill: Any) -> dict:  # type: ignore[type-arg]
    return {
        "order_id": order_id,
        "account": "A",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "event_type": event_type,
        "status": status,
        "command_id": command_id,
        "reject_reason": fill.pop("reject_reason", None),
        "last_quantity": fill.get("last_quantity", 0),
        "fill_id": fill.get("fill_id"),
    }


def clean_log() -> OrderPathLog:
    new = command("c1", "o1")
    return OrderPathLog(
        commands=[(NEW_ORDER, new)],
        decisions=[decision("d1", new)],
        order_events=[
            order_event("o1", "PENDING_NEW", "PENDING_NEW", "c1"),
            order_event("o1", "ACCEPTED", "NEW"),
            order_event("o1", "FILLED", "FILLED", last_quantity=5, fill_id="f1"),
        ],
        venue_orders=[{"order_id": "o1", "action": "NEW", "risk_decision_id": "d1"}],
        executions=[{"order_id": "o1", "fill_id": "f1", "exec_type": "FILL"}],
        positions=[{"account": "A", "symbol": "BTCUSDT", "quantity": 5}],
    )


def test_a_clean_log_passes_and_counts_what_it_saw() -> None:
    report = verify(clean_log())
    assert report.ok, report.examples
    assert (report.commands, report.outcomes, report.fills, report.orders_terminal) == (1, 1, 1, 1)


def test_a_command_without_outcome_is_lost() -> None:
    log = clean_log()
    log.commands.append((CANCEL_ORDER, command("c2", "o1")))
    log.decisions.append(decision("d2", command("c2", "o1")))
    report = verify(log)
    assert (report.lost, report.ok) == (1, False)


def test_two_outcomes_for_one_command_are_a_duplicate() -> None:
    log = clean_log()
    log.order_events.append(order_event("o1", "DUPLICATE_REJECTED", "FILLED", "c1"))
    assert verify(log).duplicated == 1


def test_a_command_decided_twice_or_never_is_undecided() -> None:
    twice = clean_log()
    twice.decisions.append(decision("d1b", command("c1", "o1")))
    never = clean_log()
    never.decisions.clear()
    assert verify(twice).undecided == 1
    assert verify(never).undecided == 1


def test_a_venue_order_without_an_approving_decision_is_unapproved() -> None:
    log = clean_log()
    log.decisions[0]["approved"] = False
    assert verify(log).unapproved == 1


def test_a_fill_booked_twice_is_reported() -> None:
    log = clean_log()
    log.order_events.append(order_event("o1", "FILLED", "FILLED", last_quantity=5, fill_id="f1"))
    report = verify(log)
    assert report.duplicate_fills == 1
    assert not report.ok


def test_a_position_that_is_not_the_sum_of_fills_is_reported() -> None:
    log = clean_log()
    log.positions.append({"account": "A", "symbol": "BTCUSDT", "quantity": 7})
    assert verify(log).position_mismatches == 1


def test_each_violation_is_listed_with_where_the_log_holds_its_record() -> None:
    log = clean_log()
    log.commands.append((CANCEL_ORDER, command("c2", "o1")))
    log.decisions.append(decision("d2", command("c2", "o1")))
    log.where = {"c2": "orders.commands [1] @41"}
    log.vanished = ["orders.commands [0] @7"]
    report = verify(log)
    assert {(str(v["violation"]).split(":")[0], v["where"]) for v in report.violations} == {
        ("lost", "orders.commands [1] @41"),
        ("vanished", "orders.commands [0] @7"),
    }
    assert "_where" not in report.as_json() and report.as_json()["violations"] == report.violations
