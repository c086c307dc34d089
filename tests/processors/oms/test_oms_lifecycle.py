"""Venue reports and cancel / amend requests, one transition at a time: fills, cancels, replaces, rejects."""

from __future__ import annotations

from _oms_builders import (
    ACCOUNT,
    SYMBOL,
    P,
    Q,
    accepted,
    amend,
    cancel,
    dead_letters,
    decision,
    fill,
    new_order,
    oid,
    order_events,
    placed,
    report,
    run,
    types,
    venue_orders,
)

from processors.core import derived_meta
from processors.oms import OmsCore
from topics.catalogue import DEAD_LETTERS, VENUE_EXECUTIONS


def test_venue_ack_makes_the_order_new() -> None:
    core = OmsCore()
    order_id, _ = placed(core, quantity=2 * Q)
    emits = run(core, report(order_id, "ACK", leaves=2 * Q))
    (ack,) = order_events(emits)
    assert (ack["event_type"], ack["status"], ack["cum_quantity"], ack["leaves_quantity"]) == (
        "ACCEPTED",
        "NEW",
        0,
        2 * Q,
    )
    assert ack["command_id"] is None  # venue-driven: it answers no command


def test_partial_then_final_fill_moves_cum_leaves_and_average_price() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    first = run(core, fill(order_id, 1 * Q, 100 * P, fill_id="f-1"))
    (partial,) = order_events(first)
    assert (partial["event_type"], partial["status"]) == ("PARTIALLY_FILLED", "PARTIALLY_FILLED")
    assert (partial["cum_quantity"], partial["leaves_quantity"], partial["avg_price"]) == (1 * Q, 2 * Q, 100 * P)
    assert (partial["last_quantity"], partial["last_price"], partial["fill_id"]) == (1 * Q, 100 * P, "f-1")
    assert (partial["fee"], partial["liquidity"]) == (1, "MAKER")
    second = run(core, fill(order_id, 2 * Q, 101 * P, fill_id="f-2"))
    (filled,) = order_events(second)
    assert (filled["event_type"], filled["status"]) == ("FILLED", "FILLED")
    assert (filled["cum_quantity"], filled["leaves_quantity"], filled["last_quantity"]) == (3 * Q, 0, 2 * Q)
    # (100 * 1 + 101 * 2) / 3 = 100.666666666...: rounded half-even at 8 decimals.
    assert filled["avg_price"] == 10_066_666_667


def test_average_price_rounds_half_even_at_the_price_scale() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=4)  # 4e-8: fills of one smallest unit each
    run(core, fill(order_id, 1, 1))
    emits = run(core, fill(order_id, 1, 2))  # (1 + 2) / 2 = 1.5 -> 2 (even)
    assert order_events(emits)[0]["avg_price"] == 2
    emits = run(core, fill(order_id, 2, 2))  # (1 + 2 + 4) / 4 = 1.75 -> 2
    assert order_events(emits)[0]["avg_price"] == 2
    order = accepted(core, "c-2", quantity=2)
    run(core, fill(order, 1, 2))
    assert order_events(run(core, fill(order, 1, 3)))[0]["avg_price"] == 2  # 2.5 -> 2 (even)


def test_fill_seen_twice_counts_once() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    once = fill(order_id, 1 * Q, fill_id="f-1")
    assert len(order_events(run(core, once))) == 1
    assert run(core, once) == []
    assert run(core, fill(order_id, 1 * Q, fill_id="f-1")) == []  # the same fill id in a new report
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["cum"] == 1 * Q and order["fill_ids"] == ["f-1"]


def test_fill_seen_twice_after_the_order_is_filled_is_still_ignored() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=1 * Q)
    last = fill(order_id, 1 * Q, fill_id="f-1")
    run(core, last)
    assert run(core, last) == []


def test_overfill_goes_to_dead_letters() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    run(core, fill(order_id, 1 * Q))
    over = fill(order_id, 2 * Q, fill_id="f-over")
    emits = run(core, over)
    assert [(emit.topic, emit.key) for emit in emits] == [(DEAD_LETTERS, VENUE_EXECUTIONS)]
    (letter,) = dead_letters(emits)
    assert letter["meta"] == derived_meta(over, "oms", 0)
    assert (letter["reason"], letter["stage"], letter["source_topic"], letter["key"]) == (
        "INVALID_RECORD",
        "oms",
        VENUE_EXECUTIONS,
        ACCOUNT.encode(),
    )
    assert letter["detail"].startswith("OVERFILL: fill f-over")
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["cum"] == 1 * Q and "f-over" not in order["fill_ids"]
    assert order["status"] == "PARTIALLY_FILLED"


def test_fill_without_id_or_quantity_goes_to_dead_letters() -> None:
    core = OmsCore()
    order_id = accepted(core)
    for bad in (
        report(order_id, "FILL", fill_id=None, last_quantity=1 * Q, last_price=100 * P),
        report(order_id, "FILL", fill_id="f-0", last_quantity=0, last_price=100 * P),
        report(order_id, "FILL", fill_id="f-x", last_quantity=1 * Q, last_price=None),
    ):
        (letter,) = dead_letters(run(core, bad))
        assert letter["reason"] == "INVALID_RECORD"
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["cum"] == 0


def test_report_on_an_unknown_order_goes_to_dead_letters() -> None:
    (letter,) = dead_letters(run(OmsCore(), report("no-such-order", "ACK")))
    assert "holds no such order" in letter["detail"]


def test_second_ack_is_an_invalid_transition_and_not_applied() -> None:
    core = OmsCore()
    order_id = accepted(core)
    (letter,) = dead_letters(run(core, report(order_id, "ACK")))
    assert "ACK for order" in letter["detail"] and "no such transition" in letter["detail"]


def test_cancel_of_a_working_order_is_pending_then_cancelled_by_the_venue() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    run(core, fill(order_id, 1 * Q))
    command = cancel(order_id)
    decided = decision(command)
    emits = run(core, decided)
    assert types(emits) == [("PENDING_CANCEL", "PENDING_CANCEL")]
    (sent,) = venue_orders(emits)
    assert (sent["action"], sent["order_id"], sent["risk_decision_id"]) == (
        "CANCEL",
        order_id,
        decided.record["meta"]["event_id"],
    )
    command_id = command[1]["meta"]["event_id"]
    assert order_events(emits)[0]["command_id"] == command_id
    done = run(core, report(order_id, "CANCELLED", cum=1 * Q))
    (cancelled,) = order_events(done)
    assert (cancelled["event_type"], cancelled["status"], cancelled["command_id"]) == (
        "CANCELLED",
        "CANCELLED",
        command_id,
    )
    assert (cancelled["cum_quantity"], cancelled["leaves_quantity"]) == (1 * Q, 0)


def test_cancel_of_a_pending_new_order_is_allowed_and_the_late_ack_keeps_it_pending_cancel() -> None:
    core = OmsCore()
    order_id, _ = placed(core)
    assert types(run(core, decision(cancel(order_id)))) == [("PENDING_CANCEL", "PENDING_CANCEL")]
    assert types(run(core, report(order_id, "ACK", leaves=1 * Q))) == [("ACCEPTED", "PENDING_CANCEL")]
    assert types(run(core, report(order_id, "CANCELLED"))) == [("CANCELLED", "CANCELLED")]


def test_fill_while_cancel_is_pending_keeps_pending_cancel_and_a_reject_returns_to_partially_filled() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    command = cancel(order_id)
    run(core, decision(command))
    assert types(run(core, fill(order_id, 1 * Q))) == [("PARTIALLY_FILLED", "PENDING_CANCEL")]
    emits = run(core, report(order_id, "CANCEL_REJECTED", reject_reason="VENUE_ERROR", cum=1 * Q, leaves=1 * Q))
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"]) == (
        "CANCEL_REJECTED",
        "PARTIALLY_FILLED",
        "VENUE_ERROR",
    )
    assert rejected["command_id"] == command[1]["meta"]["event_id"]


def test_cancel_when_filled_then_rejected() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, fill(order_id, 1 * Q))
    command = cancel(order_id)
    emits = run(core, decision(command))
    assert venue_orders(emits) == []
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"]) == (
        "CANCEL_REJECTED",
        "FILLED",
        "INVALID_TRANSITION",
    )
    assert rejected["command_id"] == command[1]["meta"]["event_id"]


def test_cancel_of_an_unknown_order_is_rejected_as_unknown() -> None:
    command = cancel(oid("never-sent"))
    emits = run(OmsCore(), decision(command))
    assert venue_orders(emits) == []
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"], rejected["version"]) == (
        "CANCEL_REJECTED",
        "REJECTED",
        "UNKNOWN_ORDER",
        0,
    )
    assert (rejected["order_id"], rejected["symbol"]) == (oid("never-sent"), SYMBOL)


def test_second_cancel_while_one_is_pending_is_rejected() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, decision(cancel(order_id)))
    emits = run(core, decision(cancel(order_id)))
    assert types(emits) == [("CANCEL_REJECTED", "PENDING_CANCEL")]
    assert order_events(emits)[0]["reject_reason"] == "INVALID_TRANSITION"


def test_final_fill_while_cancel_is_pending_fills_the_order_and_answers_the_cancel() -> None:
    core = OmsCore()
    order_id = accepted(core)
    command = cancel(order_id)
    run(core, decision(command))
    emits = run(core, fill(order_id, 1 * Q))
    assert types(emits) == [("FILLED", "FILLED"), ("CANCEL_REJECTED", "FILLED")]
    assert order_events(emits)[1]["command_id"] == command[1]["meta"]["event_id"]
    # The venue's own answer to the cancel comes later: the cancel has its answer, so it is absorbed.
    assert run(core, report(order_id, "CANCEL_REJECTED", reject_reason="UNKNOWN_ORDER")) == []


def test_amend_is_pending_replace_then_replaced_with_a_new_version() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q, price=100 * P)
    command = amend(order_id, quantity=5 * Q, price=99 * P)
    decided = decision(command)
    emits = run(core, decided)
    assert types(emits) == [("PENDING_REPLACE", "PENDING_REPLACE")]
    pending = order_events(emits)[0]
    assert (pending["version"], pending["quantity"], pending["price"]) == (1, 2 * Q, 100 * P)  # not yet replaced
    (sent,) = venue_orders(emits)
    assert (sent["action"], sent["quantity"], sent["price"], sent["risk_decision_id"]) == (
        "AMEND",
        5 * Q,
        99 * P,
        decided.record["meta"]["event_id"],
    )
    (replaced,) = order_events(run(core, report(order_id, "AMENDED", leaves=5 * Q)))
    assert (replaced["event_type"], replaced["status"], replaced["version"]) == ("REPLACED", "NEW", 2)
    assert (replaced["quantity"], replaced["price"], replaced["leaves_quantity"]) == (5 * Q, 99 * P, 5 * Q)
    assert replaced["command_id"] == command[1]["meta"]["event_id"]


def test_amend_keeps_fields_it_leaves_null() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q, price=100 * P)
    (sent,) = venue_orders(run(core, decision(amend(order_id, price=98 * P))))
    assert (sent["quantity"], sent["price"]) == (2 * Q, 98 * P)


def test_amend_below_filled_quantity_is_rejected() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    run(core, fill(order_id, 2 * Q))
    emits = run(core, decision(amend(order_id, quantity=1 * Q)))
    assert venue_orders(emits) == []
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"]) == (
        "REPLACE_REJECTED",
        "PARTIALLY_FILLED",
        "AMEND_BELOW_FILLED",
    )
    assert rejected["version"] == 1


def test_amend_down_to_the_filled_quantity_fills_the_order() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    run(core, fill(order_id, 2 * Q))
    assert types(run(core, decision(amend(order_id, quantity=2 * Q)))) == [("PENDING_REPLACE", "PENDING_REPLACE")]
    (replaced,) = order_events(run(core, report(order_id, "AMENDED", cum=2 * Q)))
    assert (replaced["event_type"], replaced["status"], replaced["version"]) == ("REPLACED", "FILLED", 2)
    assert (replaced["quantity"], replaced["leaves_quantity"]) == (2 * Q, 0)


def test_venue_amend_reject_returns_to_the_previous_status() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    run(core, fill(order_id, 1 * Q))
    command = amend(order_id, quantity=4 * Q)
    run(core, decision(command))
    emits = run(core, report(order_id, "AMEND_REJECTED", reject_reason="POST_ONLY_WOULD_TAKE"))
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"], rejected["version"]) == (
        "REPLACE_REJECTED",
        "PARTIALLY_FILLED",
        "POST_ONLY_WOULD_TAKE",
        1,
    )
    assert rejected["quantity"] == 3 * Q and rejected["command_id"] == command[1]["meta"]["event_id"]


def test_denied_amend_is_replace_rejected_with_risk_reason() -> None:
    core = OmsCore()
    order_id = accepted(core)
    emits = run(core, decision(amend(order_id, quantity=9 * Q), approved=False, reason="POSITION_LIMIT"))
    assert types(emits) == [("REPLACE_REJECTED", "NEW")]
    assert order_events(emits)[0]["reject_reason"] == "POSITION_LIMIT"
    assert venue_orders(emits) == []


def test_amend_of_unknown_or_terminal_orders_is_rejected() -> None:
    core = OmsCore()
    unknown = run(core, decision(amend(oid("nope"), quantity=1 * Q)))
    assert [(e["event_type"], e["reject_reason"]) for e in order_events(unknown)] == [
        ("REPLACE_REJECTED", "UNKNOWN_ORDER")
    ]
    order_id = accepted(core)
    run(core, report(order_id, "CANCELLED"))
    done = run(core, decision(amend(order_id, quantity=2 * Q)))
    assert [(e["event_type"], e["status"], e["reject_reason"]) for e in order_events(done)] == [
        ("REPLACE_REJECTED", "CANCELLED", "INVALID_TRANSITION")
    ]


def test_invalid_amend_terms_are_rejected_as_invalid_order() -> None:
    core = OmsCore()
    limit = accepted(core, "c-1")
    market = accepted(core, "c-2", order_type="MARKET", price=None, time_in_force="IOC")
    for order_id, command in (
        (limit, amend(limit)),
        (limit, amend(limit, quantity=0)),
        (limit, amend(limit, stop_price=90 * P)),
        (market, amend(market, price=90 * P)),
    ):
        emits = run(core, decision(command))
        assert [(e["event_type"], e["reject_reason"]) for e in order_events(emits)] == [
            ("REPLACE_REJECTED", "INVALID_ORDER")
        ], command
        assert venue_orders(emits) == []
        order = core.order(ACCOUNT, order_id)
        assert order is not None and order["status"] == "NEW"


def test_cancel_while_replace_is_pending_waits_for_the_replace_then_goes_to_the_venue() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, decision(amend(order_id, quantity=2 * Q)))
    command = cancel(order_id)
    decided = decision(command)
    waiting = run(core, decided)
    assert types(waiting) == [("PENDING_CANCEL", "PENDING_REPLACE")]
    assert venue_orders(waiting) == []  # not yet: the venue answers the amend first
    command_id = command[1]["meta"]["event_id"]
    assert order_events(waiting)[0]["command_id"] == command_id
    answered = run(core, report(order_id, "AMENDED", leaves=2 * Q))
    assert types(answered) == [("REPLACED", "NEW"), ("PENDING_CANCEL", "PENDING_CANCEL")]
    (sent,) = venue_orders(answered)
    assert (sent["action"], sent["risk_decision_id"]) == ("CANCEL", decided.record["meta"]["event_id"])
    assert order_events(answered)[1]["command_id"] == command_id
    (cancelled,) = order_events(run(core, report(order_id, "CANCELLED")))
    assert (cancelled["status"], cancelled["command_id"], cancelled["version"]) == ("CANCELLED", command_id, 2)


def test_cancel_waiting_behind_a_replace_goes_out_after_a_replace_reject_too() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, decision(amend(order_id, quantity=2 * Q)), decision(cancel(order_id)))
    answered = run(core, report(order_id, "AMEND_REJECTED", reject_reason="VENUE_ERROR"))
    assert types(answered) == [("REPLACE_REJECTED", "NEW"), ("PENDING_CANCEL", "PENDING_CANCEL")]
    assert [order["action"] for order in venue_orders(answered)] == ["CANCEL"]


def test_second_cancel_waiting_behind_a_replace_is_rejected() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, decision(amend(order_id, quantity=2 * Q)), decision(cancel(order_id)))
    emits = run(core, decision(cancel(order_id)))
    assert [(e["event_type"], e["reject_reason"]) for e in order_events(emits)] == [
        ("CANCEL_REJECTED", "INVALID_TRANSITION")
    ]


def test_order_filled_with_a_replace_open_and_a_cancel_waiting_answers_both() -> None:
    core = OmsCore()
    order_id = accepted(core)
    replace, stop = amend(order_id, quantity=2 * Q), cancel(order_id)
    run(core, decision(replace), decision(stop))
    emits = run(core, fill(order_id, 1 * Q))
    assert types(emits) == [("FILLED", "FILLED"), ("REPLACE_REJECTED", "FILLED"), ("CANCEL_REJECTED", "FILLED")]
    assert [e["command_id"] for e in order_events(emits)[1:]] == [
        replace[1]["meta"]["event_id"],
        stop[1]["meta"]["event_id"],
    ]
    assert venue_orders(emits) == []


def test_fills_during_a_pending_replace_count_against_the_old_quantity() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    run(core, decision(amend(order_id, quantity=4 * Q)))
    assert types(run(core, fill(order_id, 1 * Q))) == [("PARTIALLY_FILLED", "PENDING_REPLACE")]
    (replaced,) = order_events(run(core, report(order_id, "AMENDED", cum=1 * Q, leaves=3 * Q)))
    assert (replaced["status"], replaced["quantity"], replaced["cum_quantity"], replaced["leaves_quantity"]) == (
        "PARTIALLY_FILLED",
        4 * Q,
        1 * Q,
        3 * Q,
    )


def test_venue_reject_is_rejected_not_denied() -> None:
    core = OmsCore()
    order_id, _ = placed(core, post_only=True)
    emits = run(core, report(order_id, "REJECTED", reject_reason="POST_ONLY_WOULD_TAKE", detail="would take"))
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"], rejected["detail"]) == (
        "REJECTED",
        "REJECTED",
        "POST_ONLY_WOULD_TAKE",
        "would take",
    )
    assert rejected["command_id"] is None  # the NewOrder's one outcome stays PENDING_NEW


def test_venue_reject_without_a_reason_is_a_venue_error() -> None:
    core = OmsCore()
    order_id, _ = placed(core)
    assert order_events(run(core, report(order_id, "REJECTED")))[0]["reject_reason"] == "VENUE_ERROR"


def test_venue_reject_after_the_ack_is_not_applied() -> None:
    core = OmsCore()
    order_id = accepted(core)
    assert len(dead_letters(run(core, report(order_id, "REJECTED")))) == 1


def test_expired_remainder_ends_the_order_with_the_venue_reason() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q, time_in_force="IOC")
    run(core, fill(order_id, 1 * Q))
    (expired,) = order_events(run(core, report(order_id, "EXPIRED", cum=1 * Q, detail="IOC remainder")))
    assert (expired["event_type"], expired["status"], expired["cum_quantity"], expired["leaves_quantity"]) == (
        "EXPIRED",
        "EXPIRED",
        1 * Q,
        0,
    )
    fok = accepted(core, "c-2", time_in_force="FOK")
    (killed,) = order_events(run(core, report(fok, "EXPIRED", reject_reason="FOK_NOT_FILLABLE")))
    assert killed["reject_reason"] == "FOK_NOT_FILLABLE"


def test_expiry_while_replace_is_pending_answers_the_replace() -> None:
    core = OmsCore()
    order_id = accepted(core)
    command = amend(order_id, quantity=2 * Q)
    run(core, decision(command))
    emits = run(core, report(order_id, "EXPIRED"))
    assert types(emits) == [("EXPIRED", "EXPIRED"), ("REPLACE_REJECTED", "EXPIRED")]
    assert order_events(emits)[1]["command_id"] == command[1]["meta"]["event_id"]


def test_stop_order_is_triggered_then_fills() -> None:
    core = OmsCore()
    order_id = accepted(core, order_type="STOP", price=None, stop_price=105 * P)
    (triggered,) = order_events(run(core, report(order_id, "TRIGGERED", leaves=1 * Q)))
    assert (triggered["event_type"], triggered["status"]) == ("TRIGGERED", "NEW")
    assert types(run(core, fill(order_id, 1 * Q, 106 * P))) == [("FILLED", "FILLED")]


def test_trigger_of_a_limit_order_or_a_second_trigger_is_not_applied() -> None:
    core = OmsCore()
    limit = accepted(core, "c-1")
    assert len(dead_letters(run(core, report(limit, "TRIGGERED")))) == 1
    stop = accepted(core, "c-2", order_type="STOP_LIMIT", price=104 * P, stop_price=105 * P)
    run(core, report(stop, "TRIGGERED"))
    assert len(dead_letters(run(core, report(stop, "TRIGGERED")))) == 1


def test_stop_price_amend_of_a_triggered_stop_is_invalid() -> None:
    core = OmsCore()
    stop = accepted(core, order_type="STOP_LIMIT", price=104 * P, stop_price=105 * P)
    assert [e["event_type"] for e in order_events(run(core, decision(amend(stop, stop_price=103 * P))))] == [
        "PENDING_REPLACE"
    ]
    run(core, report(stop, "AMENDED", leaves=1 * Q))
    run(core, report(stop, "TRIGGERED", leaves=1 * Q))
    emits = run(core, decision(amend(stop, stop_price=102 * P)))
    assert [e["reject_reason"] for e in order_events(emits)] == ["INVALID_ORDER"]


def test_unsolicited_venue_cancel_ends_a_working_order_without_a_command() -> None:
    core = OmsCore()
    order_id = accepted(core)
    (cancelled,) = order_events(run(core, report(order_id, "CANCELLED")))
    assert (cancelled["status"], cancelled["command_id"]) == ("CANCELLED", None)


def test_no_report_moves_a_terminal_order() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, report(order_id, "CANCELLED"))
    for exec_type in ("ACK", "CANCELLED", "AMENDED", "REJECTED", "EXPIRED"):
        emits = run(core, report(order_id, exec_type))
        assert order_events(emits) == [] and len(dead_letters(emits)) == 1, exec_type
    for exec_type in ("CANCEL_REJECTED", "AMEND_REJECTED"):  # late replies to a request: absorbed
        assert run(core, report(order_id, exec_type)) == [], exec_type
    assert len(dead_letters(run(core, fill(order_id, 1 * Q)))) == 1
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["status"] == "CANCELLED" and order["cum"] == 0


def test_cancel_redelivered_while_pending_has_its_outcome_once() -> None:
    core = OmsCore()
    order_id = accepted(core)
    command = cancel(order_id)
    run(core, decision(command))
    assert run(core, decision(command)) == []


def test_orders_of_other_accounts_are_apart() -> None:
    core = OmsCore()
    mine = accepted(core, "c-1")
    run(core, decision(new_order("c-1", account="acc-2")))
    assert len(dead_letters(run(core, report(mine, "ACK", account="acc-2")))) == 1
    order = core.order(ACCOUNT, mine)
    assert order is not None and order["status"] == "NEW"


def test_amended_below_fills_reported_after_the_amend_was_sent_is_not_applied() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    run(core, decision(amend(order_id, quantity=1 * Q)))
    run(core, fill(order_id, 2 * Q))
    emits = run(core, report(order_id, "AMENDED"))
    assert order_events(emits) == []
    (letter,) = dead_letters(emits)
    assert "below the filled" in letter["detail"]
    order = core.order(ACCOUNT, order_id)
    assert order is not None and (order["quantity"], order["status"], order["version"]) == (
        3 * Q,
        "PENDING_REPLACE",
        1,
    )
