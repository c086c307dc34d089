"""NewOrder decisions: every check runs and reports its values; each reachable reject reason; open exposure."""

from __future__ import annotations

from _risk_builders import (
    ACCOUNT,
    MS,
    SYMBOL,
    T0,
    C,
    P,
    Q,
    S,
    check,
    decide,
    fill,
    kill_switch,
    limits,
    new_order,
    order_event,
    run,
    trade,
    trading_state_set,
)

from processors.core import derived_meta
from processors.risk import AccountLimits, RiskConfig, RiskCore
from schemas.codec import default_codec
from schemas.names import NEW_ORDER, RISK_DECISION
from topics.catalogue import RISK_DECISIONS

ALL_CHECKS = [
    "KILL_SWITCH",
    "TRADING_STATE",
    "CIRCUIT_BREAKER",
    "SYMBOL_ALLOWED",
    "ORDER_QUANTITY",
    "ORDER_NOTIONAL",
    "POSITION",
    "OPEN_ORDERS",
    "ORDER_RATE",
    "PRICE_COLLAR",
    "DAILY_LOSS",
]


def test_ordinary_order_is_approved_with_every_check_and_its_values() -> None:
    core = RiskCore()
    event = new_order(quantity=2 * Q, price=100 * P)
    emits = core.apply(event)
    assert len(emits) == 1
    (emit,) = emits
    assert (emit.topic, emit.key, emit.schema) == (RISK_DECISIONS, ACCOUNT, RISK_DECISION)
    decision = emit.record
    assert decision["approved"] is True and decision["reason"] is None
    assert decision["command_type"] == "NEW" and decision["symbol"] == SYMBOL and decision["order_id"] == "o-1"
    assert decision["command"] == (NEW_ORDER, event.record)
    assert decision["meta"] == derived_meta(event, "risk", 0)
    assert [result["check"] for result in decision["checks"]] == ALL_CHECKS
    assert all(result["passed"] for result in decision["checks"])
    assert check(decision, "ORDER_QUANTITY") | {"detail": ""} == {
        "check": "ORDER_QUANTITY",
        "passed": True,
        "observed": 2 * Q,
        "limit": 1_000 * Q,
        "detail": "",
    }
    assert check(decision, "ORDER_NOTIONAL")["observed"] == 200 * C
    assert check(decision, "POSITION")["observed"] == 2 * Q
    assert check(decision, "OPEN_ORDERS")["observed"] == 1


def test_order_for_a_symbol_not_allowed_is_denied_with_symbol_not_allowed() -> None:
    core = RiskCore()
    run(core, limits(allowed_symbols=["ETHUSDT"]))
    decision = decide(core, new_order(symbol="BTCUSDT"))
    assert (decision["approved"], decision["reason"]) == (False, "SYMBOL_NOT_ALLOWED")
    assert decide(core, new_order("o-2", symbol="ETHUSDT"))["approved"] is True


def test_order_above_max_quantity_is_denied_with_quantity_limit() -> None:
    core = RiskCore()
    decision = decide(core, new_order(quantity=1_500 * Q, price=1 * P))
    assert (decision["approved"], decision["reason"]) == (False, "QUANTITY_LIMIT")
    assert decision["detail"] == "quantity 1500 > limit 1000"
    result = check(decision, "ORDER_QUANTITY")
    assert (result["passed"], result["observed"], result["limit"]) == (False, 1_500 * Q, 1_000 * Q)


def test_order_above_max_notional_is_denied_with_notional_limit() -> None:
    core = RiskCore()
    decision = decide(core, new_order(quantity=200 * Q, price=60_000 * P))
    assert (decision["approved"], decision["reason"]) == (False, "NOTIONAL_LIMIT")
    result = check(decision, "ORDER_NOTIONAL")
    assert (result["observed"], result["limit"]) == (12_000_000 * C, 10_000_000 * C)
    assert decision["detail"].startswith("notional 12000000 > limit 10000000")


def test_market_order_is_valued_at_the_last_trade_and_denied_without_any_reference() -> None:
    core = RiskCore()
    unpriced = decide(core, new_order(order_type="MARKET", price=None))
    assert (unpriced["approved"], unpriced["reason"]) == (False, "NOTIONAL_LIMIT")
    assert check(unpriced, "ORDER_NOTIONAL")["observed"] is None
    run(core, trade(50 * P))
    priced = decide(core, new_order("o-2", order_type="MARKET", price=None, quantity=3 * Q))
    assert priced["approved"] is True
    assert check(priced, "ORDER_NOTIONAL")["observed"] == 150 * C
    assert "last trade" in check(priced, "ORDER_NOTIONAL")["detail"]


def test_order_beyond_max_position_is_denied_with_position_limit() -> None:
    core = RiskCore()
    run(core, limits(max_position_quantity=10 * Q), fill("f-0", side="BUY", quantity=6 * Q, price=100 * P))
    decision = decide(core, new_order(quantity=5 * Q))
    assert (decision["approved"], decision["reason"]) == (False, "POSITION_LIMIT")
    assert (check(decision, "POSITION")["observed"], check(decision, "POSITION")["limit"]) == (11 * Q, 10 * Q)
    assert decide(core, new_order("o-2", quantity=4 * Q))["approved"] is True
    # a sell reduces the long: |6 - 5| is well inside the limit
    assert decide(core, new_order("o-3", side="SELL", quantity=5 * Q))["approved"] is True


def test_open_exposure_counts_immediately_after_approval_and_terminal_events_release_it() -> None:
    core = RiskCore()
    run(core, limits(max_position_quantity=10 * Q))
    assert decide(core, new_order("o-1", quantity=6 * Q))["approved"] is True
    # no order event yet: the order approved a moment ago already counts
    second = decide(core, new_order("o-2", quantity=6 * Q, t=T0 + 1))
    assert (second["reason"], check(second, "POSITION")["observed"]) == ("POSITION_LIMIT", 12 * Q)
    run(
        core,
        order_event("o-1", "PENDING_NEW", "PENDING_NEW", quantity=6 * Q),
        order_event("o-1", "CANCELLED", "CANCELLED", quantity=6 * Q),
    )
    assert decide(core, new_order("o-3", quantity=6 * Q, t=T0 + 2))["approved"] is True


def test_partial_fill_moves_quantity_from_open_exposure_to_the_position() -> None:
    core = RiskCore()
    run(core, new_order("o-1", quantity=10 * Q))
    run(
        core,
        order_event(
            "o-1",
            "PARTIALLY_FILLED",
            "PARTIALLY_FILLED",
            quantity=10 * Q,
            cum=4 * Q,
            last_quantity=4 * Q,
            last_price=100 * P,
        ),
    )
    state = core.account_state(ACCOUNT)
    assert state is not None
    assert state["positions"][SYMBOL]["quantity"] == 4 * Q
    assert state["exposure"][SYMBOL] == [6 * Q, 0]
    assert check(decide(core, new_order("o-2", quantity=1 * Q)), "POSITION")["observed"] == 11 * Q


def test_order_beyond_max_open_orders_is_denied_with_max_open_orders() -> None:
    core = RiskCore()
    run(core, limits(max_open_orders=2))
    assert decide(core, new_order("o-1"))["approved"] is True
    assert decide(core, new_order("o-2"))["approved"] is True
    third = decide(core, new_order("o-3"))
    assert (third["approved"], third["reason"]) == (False, "MAX_OPEN_ORDERS")
    assert (check(third, "OPEN_ORDERS")["observed"], check(third, "OPEN_ORDERS")["limit"]) == (3, 2)
    run(core, order_event("o-1", "FILLED", "FILLED", cum=1 * Q, last_quantity=1 * Q, last_price=100 * P))
    assert decide(core, new_order("o-4"))["approved"] is True


def test_orders_beyond_the_burst_are_denied_with_rate_limit() -> None:
    core = RiskCore()
    run(core, limits(orders_per_second=2, order_burst=3, max_open_orders=100))
    outcomes = [decide(core, new_order(f"o-{i}", t=T0))["approved"] for i in range(4)]
    assert outcomes == [True, True, True, False]
    denied = decide(core, new_order("o-x", t=T0))
    assert denied["reason"] == "RATE_LIMIT"
    assert (check(denied, "ORDER_RATE")["observed"], check(denied, "ORDER_RATE")["limit"]) == (4, 3)


def test_token_bucket_refills_by_event_time() -> None:
    core = RiskCore()
    run(core, limits(orders_per_second=2, order_burst=2, max_open_orders=100))
    assert [decide(core, new_order(f"a-{i}"))["approved"] for i in range(3)] == [True, True, False]
    # 2 orders per second: one token every 500 ms of event time, whatever the wall clock says
    assert decide(core, new_order("b-1", t=T0 + 499 * MS))["approved"] is False
    assert decide(core, new_order("b-2", t=T0 + 500 * MS))["approved"] is True
    assert decide(core, new_order("b-3", t=T0 + 500 * MS))["approved"] is False
    assert [decide(core, new_order(f"c-{i}", t=T0 + 60 * S))["approved"] for i in range(3)] == [True, True, False]


def test_denied_orders_take_no_token() -> None:
    core = RiskCore()
    run(core, limits(orders_per_second=1, order_burst=1))
    assert decide(core, new_order("o-1", quantity=5_000 * Q))["reason"] == "QUANTITY_LIMIT"
    assert decide(core, new_order("o-2"))["approved"] is True


def test_price_outside_the_collar_is_denied_with_price_collar() -> None:
    core = RiskCore()
    run(core, limits(price_collar_bps=500), trade(100 * P))
    decision = decide(core, new_order(price=106 * P))
    assert (decision["approved"], decision["reason"]) == (False, "PRICE_COLLAR")
    result = check(decision, "PRICE_COLLAR")
    assert (result["observed"], result["limit"]) == (600, 500)
    assert decide(core, new_order("o-2", price=105 * P))["approved"] is True


def test_price_collar_uses_last_trade_then_configured_reference_then_passes_without_reference() -> None:
    core = RiskCore()
    no_reference = check(decide(core, new_order("o-1", price=1_000 * P)), "PRICE_COLLAR")
    assert (no_reference["passed"], no_reference["observed"], no_reference["detail"]) == (True, None, "no reference")

    run(core, limits(price_collar_bps=100, reference_prices={SYMBOL: 200 * P}))
    configured = decide(core, new_order("o-2", price=210 * P))
    assert configured["reason"] == "PRICE_COLLAR"
    assert "configured reference 200" in check(configured, "PRICE_COLLAR")["detail"]

    run(core, trade(210 * P))
    last = check(decide(core, new_order("o-3", price=210 * P)), "PRICE_COLLAR")
    assert (last["passed"], last["observed"]) == (True, 0)
    assert "last trade 210" in last["detail"]


def test_price_collar_boundary_is_exact_in_integers() -> None:
    core = RiskCore()
    run(core, limits(price_collar_bps=100), trade(3 * P))
    # 3.03 is exactly 100 bps from 3; one price increment more is outside (observed rounds up to 101)
    assert decide(core, new_order("o-1", price=303_000_000))["approved"] is True
    beyond = decide(core, new_order("o-2", price=303_000_001))
    assert (beyond["reason"], check(beyond, "PRICE_COLLAR")["observed"]) == ("PRICE_COLLAR", 101)


def test_order_after_daily_loss_is_denied_with_daily_loss_limit() -> None:
    core = RiskCore()
    run(
        core,
        limits(daily_loss_limit=1_000 * C),
        fill("f-1", side="BUY", quantity=10 * Q, price=1_000 * P),
        fill("f-2", side="SELL", quantity=10 * Q, price=900 * P, fee=5 * C),
    )
    decision = decide(core, new_order(quantity=1 * Q))
    assert (decision["approved"], decision["reason"]) == (False, "DAILY_LOSS_LIMIT")
    result = check(decision, "DAILY_LOSS")
    assert (result["observed"], result["limit"]) == (-1_005 * C, -1_000 * C)
    # the next UTC day starts from zero
    next_day = T0 + 24 * 3_600 * S
    assert decide(core, new_order("o-2", t=next_day))["approved"] is True


def test_daily_loss_lets_orders_that_reduce_the_position_through() -> None:
    core = RiskCore()
    run(
        core,
        limits(daily_loss_limit=1 * C),
        fill("f-1", side="BUY", quantity=10 * Q, price=100 * P),
        fill("f-2", side="SELL", quantity=5 * Q, price=90 * P),
    )
    assert decide(core, new_order("o-1", side="BUY"))["reason"] == "DAILY_LOSS_LIMIT"
    reducing = decide(core, new_order("o-2", side="SELL", quantity=5 * Q, price=90 * P))
    assert reducing["approved"] is True
    assert "reduces" in check(reducing, "DAILY_LOSS")["detail"]


def test_denial_reason_is_the_first_failing_check_and_names_the_others() -> None:
    core = RiskCore()
    run(core, kill_switch("GLOBAL", None), trading_state_set("HALTED"))
    decision = decide(core, new_order(quantity=5_000 * Q))
    assert decision["reason"] == "KILL_SWITCH"
    assert decision["detail"] == "kill switch active: GLOBAL; also failing: TRADING_STATE, ORDER_QUANTITY"
    assert [r["check"] for r in decision["checks"] if not r["passed"]] == [
        "KILL_SWITCH",
        "TRADING_STATE",
        "ORDER_QUANTITY",
    ]


def test_defaults_apply_without_limits_and_the_config_overrides_them() -> None:
    assert decide(RiskCore(), new_order(quantity=1_000 * Q, price=1 * P))["approved"] is True
    strict = RiskCore(RiskConfig(default_limits=AccountLimits(max_order_quantity=10 * Q)))
    assert decide(strict, new_order(quantity=11 * Q, price=1 * P))["reason"] == "QUANTITY_LIMIT"


def test_an_absurd_quantity_is_denied_by_a_decision_that_can_be_written() -> None:
    """2**62 lots make a notional past an Avro long: the decision saturates the figure, keeps it in words, and
    encodes (a decision that cannot be written would dead-letter the command instead of denying it)."""
    core = RiskCore()
    decision = decide(core, new_order(quantity=2**62, price=1_000_000 * P))
    assert (decision["approved"], decision["reason"]) == (False, "QUANTITY_LIMIT")
    assert check(decision, "ORDER_NOTIONAL")["observed"] == 2**63 - 1
    default_codec().encode(RISK_DECISION, decision)
