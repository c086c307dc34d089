"""Portfolio analytics and TCA over real HTTP and through `sq`, on facts the real sink projected and market data
on the module's topics: positions and trades for the risk and the optimisation, a parent with two children on
two venues (and a direct order) with book tops and trades for the TCA, the same scenario as the pure test's."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import OTHER, OWN, ApiEnv

from api.views import at
from connectors.postgres.sink import SinkOptions, run_sink
from processors.analytics.portfolio import risk_contributions
from processors.core import order_id_for
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import BOOK_TOP, ORDER_EVENT, POSITION, TRADE
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE
from sq.cli import main as sq_main
from topics.catalogue import MD_BOOK_TOP, MD_TRADES, ORDERS_COMMANDS, ORDERS_EVENTS, PORTFOLIO_POSITIONS
from topics.client import AvroProducer, read_topic

pytestmark = pytest.mark.integration

P, Q, C = PRICE_SCALE, QUANTITY_SCALE, CASH_SCALE
S, MS = 1_000_000, 1_000
SQ = [sys.executable, "-m", "sq.cli"]
_ids = itertools.count(1)

# One trade per minute bar: BTCUSDT returns +10 %, -10 %, +10 %, -10 %; ETHUSDT +5 %, 0, -2 %, 0.
BTC = [100.0, 110.0, 99.0, 108.9, 98.01]
ETH = [10.0, 10.5, 10.5, 10.29, 10.29]


@dataclass(frozen=True)
class Seeded:
    window_end_us: int
    parent_id: str
    direct_id: str


def _meta(t: int, producer: str = "oms") -> dict[str, Any]:
    event_id = f"analytics-evt-{next(_ids)}"
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }


def _order_event(order_id: str, t: int, event_type: str, status: str, **fields: Any) -> dict[str, Any]:
    base = {
        "meta": _meta(t),
        "account": OWN,
        "order_id": order_id,
        "client_order_id": order_id,
        "symbol": "XUSDT",
        "side": "BUY",
        "order_type": "LIMIT",
        "quantity": 10 * Q,
        "price": 110 * P,
        "cum_quantity": 0,
        "leaves_quantity": 10 * Q,
        "avg_price": None,
        "last_quantity": 0,
        "last_price": None,
        "fee": 0,
        "fill_id": None,
        "liquidity": None,
        "venue": None,
        "parent_order_id": None,
        "post_only": False,
        "command_id": None,
    }
    return example_event(ORDER_EVENT, **{**base, **fields, "event_type": event_type, "status": status})


def _fill(order_id: str, t: int, venue: str, filled: int, price: int, fee: int, **fields: Any) -> dict[str, Any]:
    return _order_event(
        order_id,
        t,
        "FILLED",
        "FILLED",
        cum_quantity=filled,
        leaves_quantity=0,
        avg_price=price,
        last_quantity=filled,
        last_price=price,
        fee=fee,
        fill_id=f"{order_id}-fill",
        liquidity="TAKER",
        venue=venue,
        **fields,
    )


def _trade(symbol: str, t: int, venue: str, price: int, quantity: int) -> dict[str, Any]:
    return example_event(
        TRADE,
        meta=_meta(t, "test"),
        venue=venue,
        symbol=symbol,
        trade_id=f"tr-{next(_ids)}",
        price=price,
        quantity=quantity,
    )


def _top(t: int, venue: str, bid: int, ask: int, stale: bool = False) -> dict[str, Any]:
    return example_event(
        BOOK_TOP,
        meta=_meta(t, "orderbook"),
        venue=venue,
        symbol="XUSDT",
        bid_price=bid,
        ask_price=ask,
        bid_quantity=Q,
        ask_quantity=Q,
        bids=[],
        asks=[],
        stale=stale,
    )


def _position(symbol: str, quantity: int, t: int) -> dict[str, Any]:
    return example_event(
        POSITION,
        meta=_meta(t, "portfolio"),
        account=OWN,
        symbol=symbol,
        quantity=quantity,
        avg_price=P,
        mark_price=P,
        unrealized_pnl=0,
        realized_pnl=0,
        fees=0,
        cash=0,
        fill_count=1,
        last_fill_id="f",
        version=1,
    )


@pytest.fixture(scope="module")
def seeded(api_env: ApiEnv) -> Seeded:
    now = time.time_ns() // 1000
    end = now - now % (60 * S)  # a window ending on a whole minute, 5 one-minute bars long
    producer = AvroProducer(api_env.settings)
    for index, (btc, eth) in enumerate(zip(BTC, ETH, strict=True)):
        t = end - (4 - index) * 60 * S - 30 * S  # mid-bar
        producer.produce(MD_TRADES, "BTCUSDT", TRADE, _trade("BTCUSDT", t, "sim", round(btc * P), Q))
        producer.produce(MD_TRADES, "ETHUSDT", TRADE, _trade("ETHUSDT", t, "sim", round(eth * P), Q))
    producer.produce(PORTFOLIO_POSITIONS, f"{OWN}|BTCUSDT", POSITION, _position("BTCUSDT", 2 * Q, end))
    producer.produce(PORTFOLIO_POSITIONS, f"{OWN}|ETHUSDT", POSITION, _position("ETHUSDT", 10 * Q, end))

    # The TCA scenario (tests/processors/analytics/test_tca_figures.py), in milliseconds from the arrival.
    arrival = end - 30 * S

    def ms(offset: int) -> int:
        return arrival + offset * MS

    for t, venue, bid, ask, stale in (
        (ms(-500), "A", 99 * P, 101 * P, False),
        (ms(-200), "B", 995 * P // 10, 1005 * P // 10, False),
        (ms(-100), "C", 105 * P, 106 * P, True),
        (ms(4_000), "A", 1005 * P // 10, 102 * P, False),
    ):
        producer.produce(MD_BOOK_TOP, "XUSDT", BOOK_TOP, _top(t, venue, bid, ask, stale))
    for t, venue, price, quantity in (
        (ms(-100), "A", 50 * P, Q),
        (ms(1_000), "A", 100 * P, 10 * Q),
        (ms(2_000), "B", 101 * P, 10 * Q),
        (ms(7_000), "A", 200 * P, 5 * Q),
    ):
        producer.produce(MD_TRADES, "XUSDT", TRADE, _trade("XUSDT", t, venue, price, quantity))
    parent = order_id_for(OWN, "analytics-parent")
    children = [order_id_for(OWN, f"analytics-child-{n}") for n in (1, 2)]
    direct = order_id_for(OWN, "analytics-direct")
    events = [
        _order_event(parent, ms(0), "PENDING_NEW", "PENDING_NEW", venue="algo:twap"),
        _order_event(parent, ms(1), "ACCEPTED", "NEW", venue="algo:twap"),
        _order_event(children[0], ms(100), "PENDING_NEW", "PENDING_NEW", quantity=4 * Q, parent_order_id=parent),
        _fill(children[0], ms(2_500), "A", 4 * Q, 1002 * P // 10, 4 * C // 10, quantity=4 * Q, parent_order_id=parent),
        # The parent's roll-up of a child's fill: last_quantity 0 (the child's event is the fill).
        _order_event(parent, ms(2_501), "PARTIALLY_FILLED", "PARTIALLY_FILLED", cum_quantity=4 * Q, venue="algo:twap"),
        _order_event(children[1], ms(3_000), "PENDING_NEW", "PENDING_NEW", quantity=4 * Q, parent_order_id=parent),
        _fill(children[1], ms(4_000), "B", 4 * Q, 1004 * P // 10, 2 * C // 10, quantity=4 * Q, parent_order_id=parent),
        _order_event(parent, ms(5_000), "CANCELLED", "CANCELLED", cum_quantity=8 * Q, venue="algo:twap"),
        # A direct order on a symbol without market data: measured on its own fill.
        _order_event(direct, ms(0), "PENDING_NEW", "PENDING_NEW", symbol="NOMD", quantity=2 * Q),
        _fill(direct, ms(10), "sim", 2 * Q, 1003 * P // 10, 0, symbol="NOMD", quantity=2 * Q),
    ]
    for event in events:
        producer.produce(ORDERS_EVENTS, OWN, ORDER_EVENT, event)
    producer.flush()
    stats = run_sink(api_env.settings, max_seconds=60, options=SinkOptions(until_end=True))
    assert stats.caught_up
    return Seeded(end, parent, direct)


def _iso(time_us: int) -> str:
    return at(time_us).isoformat()


def _risk_params(seeded: Seeded, **more: Any) -> dict[str, Any]:
    return {"lookback_s": 300, "bar_s": 60, "to": _iso(seeded.window_end_us), **more}


def test_risk_analytics_of_an_account_over_http(api_env: ApiEnv, seeded: Seeded) -> None:
    with api_env.client(api_env.keys.read_only) as client:
        answer = client.get(f"/v1/accounts/{OWN}/risk-analytics", params=_risk_params(seeded, confidence=0.75))
    assert answer.status_code == 200, answer.text
    risk = answer.json()
    # Exposures at the last prices: 2 x 98.01 and 10 x 10.29; gross 298.92.
    assert risk["exposures"] == pytest.approx({"BTCUSDT": 196.02, "ETHUSDT": 102.9})
    assert risk["observations"] == 4
    btc, eth = np.array([0.1, -0.1, 0.1, -0.1]), np.array([0.05, 0.0, -0.02, 0.0])
    weights = np.array([196.02, 102.9]) / 298.92
    portfolio = weights[0] * btc + weights[1] * eth
    assert risk["volatility"]["BTCUSDT"] == pytest.approx(btc.std(ddof=1))
    assert risk["portfolio_volatility"] == pytest.approx(portfolio.std(ddof=1))
    assert risk["beta"]["BTCUSDT"] == pytest.approx(1.0)  # the default benchmark is BTCUSDT
    assert risk["correlation"]["BTCUSDT"]["ETHUSDT"] == pytest.approx(np.corrcoef(btc, eth)[0, 1])
    losses = np.sort(-portfolio)
    assert risk["var"]["historical"]["var"] == pytest.approx(np.quantile(losses, 0.75))
    assert risk["var"]["historical"]["var_cash"] == pytest.approx(np.quantile(losses, 0.75) * 298.92)


def test_risk_analytics_answers_what_to_change_when_the_data_cannot_give_the_figures(
    api_env: ApiEnv, seeded: Seeded
) -> None:
    with api_env.client(api_env.keys.admin) as client:
        too_short = client.get(f"/v1/accounts/{OWN}/risk-analytics", params=_risk_params(seeded, lookback_s=60))
        no_positions = client.get("/v1/accounts/ACC-EMPTY/risk-analytics", params=_risk_params(seeded))
        bad_benchmark = client.get(
            f"/v1/accounts/{OWN}/risk-analytics", params=_risk_params(seeded, benchmark="NOSUCH")
        )
    assert too_short.status_code == 422 and too_short.json()["reason"] == "ANALYTICS_UNAVAILABLE"
    assert "two bars" in too_short.json()["detail"]
    assert no_positions.status_code == 422 and "holds no position" in no_positions.json()["detail"]
    assert bad_benchmark.status_code == 422 and "no recorded trade of NOSUCH" in bad_benchmark.json()["detail"]
    with api_env.client(api_env.keys.trader) as client:
        no_beta = client.get(f"/v1/accounts/{OWN}/risk-analytics", params=_risk_params(seeded, benchmark="none"))
    assert no_beta.status_code == 200 and no_beta.json()["beta"] == {"BTCUSDT": None, "ETHUSDT": None}


def test_analytics_follow_the_api_account_rules(api_env: ApiEnv, seeded: Seeded) -> None:
    body = {"method": "min_variance", "lookback_s": 300, "to": _iso(seeded.window_end_us)}
    with api_env.client(api_env.keys.other_trader) as other, api_env.client(api_env.keys.read_only) as reader:
        assert other.get(f"/v1/accounts/{OWN}/risk-analytics").status_code == 403
        assert other.post(f"/v1/accounts/{OWN}/optimize", json=body).status_code == 403
        assert other.get(f"/v1/orders/{seeded.parent_id}/tca").status_code == 404  # not its account's order
        assert reader.post(f"/v1/accounts/{OWN}/optimize", json=body).status_code == 200
        refused = reader.post(f"/v1/accounts/{OWN}/optimize", json={**body, "submit": True})
        assert refused.status_code == 403 and "may not place orders" in refused.json()["detail"]
    with api_env.client() as anonymous:
        assert anonymous.get(f"/v1/orders/{seeded.parent_id}/tca").status_code == 401
    with api_env.client(api_env.keys.trader) as client:
        ignored = client.post(f"/v1/accounts/{OWN}/optimize", json={**body, "risk_aversion": 3})
        assert ignored.status_code == 422 and "mean_variance only" in ignored.text
        assert client.get(f"/v1/accounts/{OTHER}/risk-analytics").status_code == 403


def test_optimize_prints_targets_and_orders_and_submits_them_only_when_asked(api_env: ApiEnv, seeded: Seeded) -> None:
    body = {"method": "risk_parity", "lookback_s": 300, "to": _iso(seeded.window_end_us), "lot": "0.001"}
    with api_env.client(api_env.keys.trader) as client:
        plan = client.post(f"/v1/accounts/{OWN}/optimize", json=body).json()
        submitted = client.post(f"/v1/accounts/{OWN}/optimize", json={**body, "submit": True}).json()
        again = client.post(f"/v1/accounts/{OWN}/optimize", json={**body, "submit": True}).json()
    cov = np.cov([[0.1, -0.1, 0.1, -0.1], [0.05, 0.0, -0.02, 0.0]], ddof=1)
    weights = np.array([plan["target_weights"]["BTCUSDT"], plan["target_weights"]["ETHUSDT"]])
    assert weights.sum() == pytest.approx(1.0)
    assert risk_contributions(weights, cov).tolist() == pytest.approx([0.5, 0.5])
    assert plan["capital"] == "298.92" and plan["submitted"] is None
    by_symbol = {o["symbol"]: o for o in plan["orders"]}
    btc_target = math.floor(plan["target_weights"]["BTCUSDT"] * 298.92 / 98.01 * 1000) / 1000
    assert by_symbol["BTCUSDT"]["side"] == "SELL" and by_symbol["BTCUSDT"]["price"] == "98.01"
    assert float(by_symbol["BTCUSDT"]["target_quantity"]) == pytest.approx(btc_target)
    assert by_symbol["ETHUSDT"]["side"] == "BUY"
    sent = submitted["submitted"]
    assert [s["order_id"] for s in sent] == [
        s["order_id"] for s in again["submitted"]
    ]  # the same plan: the same orders
    commands = [
        default_codec().decode(r.value).record
        for r in read_topic(api_env.settings, ORDERS_COMMANDS)
        if r.value is not None
    ]
    new_orders = [c for c in commands if c["order_id"] in {s["order_id"] for s in sent}]
    assert len(new_orders) == 2 * len(sent)
    btc_order = next(c for c in new_orders if c["symbol"] == "BTCUSDT")
    assert (btc_order["side"], btc_order["order_type"], btc_order["price"]) == ("SELL", "LIMIT", 9801 * P // 100)
    assert btc_order["quantity"] == round(float(by_symbol["BTCUSDT"]["quantity"]) * Q)


def test_tca_of_a_parent_on_its_childrens_fills_over_http(api_env: ApiEnv, seeded: Seeded) -> None:
    with api_env.client(api_env.keys.trader) as client:
        answer = client.get(f"/v1/orders/{seeded.parent_id}/tca")
        direct = client.get(f"/v1/orders/{seeded.direct_id}/tca").json()
        unknown = client.get("/v1/orders/no-such-order/tca")
    assert answer.status_code == 200, answer.text
    tca = answer.json()
    assert (tca["children"], tca["arrival_price"], tca["arrival_source"]) == (2, 100.0, "mid")
    assert tca["interval_vwap"] == pytest.approx(100.5)
    assert (tca["fill_ratio"], tca["participation"]) == (pytest.approx(0.8), pytest.approx(0.4))
    assert tca["slippage_vs_arrival_bps"] == pytest.approx(30.0)
    assert tca["implementation_shortfall_bps"] == pytest.approx(40.0)
    assert tca["fees_by_venue"]["A"]["fees"] == pytest.approx(0.4)
    assert tca["fees_by_venue"]["B"]["fees"] == pytest.approx(0.2)
    # best execution: bought at 100.2 and 100.4 against a consolidated offer of 100.5 (docs/TCA.md)
    assert tca["price_improvement_bps"] == pytest.approx(1.6 / 804 * 10_000)
    assert tca["at_or_better_than_bbo"] == 1.0
    assert tca["fees_by_venue"]["A"]["price_improvement_bps"] == pytest.approx(0.3 / 100.5 * 10_000)
    assert (direct["children"], direct["fill_ratio"], direct["average_price"]) == (0, 1.0, pytest.approx(100.3))
    assert direct["arrival_price"] is None and direct["implementation_shortfall_bps"] is None
    assert unknown.status_code == 404


def _sq(env: ApiEnv, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env.settings.as_env()}
    return subprocess.run([*SQ, *args], capture_output=True, text=True, timeout=60, env=environment, check=False)


def test_sq_tca_prints_the_figures_and_their_json(api_env: ApiEnv, seeded: Seeded) -> None:
    done = _sq(api_env, "tca", seeded.parent_id, "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["implementation_shortfall_bps"] == pytest.approx(40.0)
    human = _sq(api_env, "tca", seeded.parent_id)
    assert human.returncode == 0, human.stderr
    assert "implementation shortfall" in human.stdout and "40 bps" in human.stdout and "(mid)" in human.stdout
    assert "price improvement vs consolidated BBO" in human.stdout and "improvement bps" in human.stdout
    missing = _sq(api_env, "tca", "no-such-order")
    assert missing.returncode == 2 and "no order no-such-order" in missing.stderr


def test_sq_portfolio_risk_and_optimize(
    api_env: ApiEnv, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in api_env.settings.as_env().items():
        monkeypatch.setenv(name, value)
    window = ["--lookback", "300", "--to", _iso(seeded.window_end_us)]

    def sq(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = sq_main([*args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = sq("portfolio", "risk", OWN, *window, "--json")
    assert code == 0, err
    assert json.loads(out)["exposures"] == pytest.approx({"BTCUSDT": 196.02, "ETHUSDT": 102.9})
    code, out, _ = sq("portfolio", "risk", OWN, *window)
    assert code == 0 and "historical" in out and "correlation" in out
    code, out, err = sq("portfolio", "optimize", OWN, *window, "--method", "min_variance")
    assert code == 0, err
    assert "not submitted: run again with --submit" in out
    code, out, err = sq("portfolio", "optimize", OWN, *window, "--method", "min_variance", "--long-only", "--json")
    assert code == 0, err
    targets = json.loads(out)["target_weights"]
    assert targets["BTCUSDT"] == pytest.approx(0.0, abs=1e-12) and targets["ETHUSDT"] == pytest.approx(1.0)
    code, _, err = sq("portfolio", "optimize", OWN, *window, "--method", "risk_parity", "--risk-aversion", "2")
    assert code == 2 and "mean_variance only" in err
    code, out, err = sq("portfolio", "optimize", OWN, *window, "--method", "mean_variance", "--submit", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert len(document["submitted"]) == len(document["orders"]) > 0
