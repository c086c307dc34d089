"""The operator's console in headless Chromium against a running pipeline (the order path's workers, the
orderbook processor and the projection sink on the module's topics and database): an order submitted through
the API shows in the blotter and fills, the book ladder follows md.depth, a risk key engages and releases a kill
switch through the confirmation dialog, and a trader key sees none of another account's orders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from _api_server import serve_api
from conftest import OTHER, OWN, ApiEnv
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from api.auth import Role, token_for
from processors.core import Event
from processors.runtime.supervisor import start_worker, stop_workers
from tests.kit.books import depth_snapshot, depth_update
from tests.kit.browser import chromium, find, log_in, show, wait_until
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

STARTUP_S = 120  # the first order waits for the workers to join their groups
SETTLE_S = 30
P = 100_000_000  # price and quantity scale of md.depth
SECRET = b"console-test-secret-of-32-bytes!"


@pytest.fixture(scope="module")
def pipeline(order_path: ApiEnv) -> Iterator[ApiEnv]:
    """The order path (conftest) and the orderbook processor beside it."""
    orderbook = start_worker("orderbook", 0, "kafka", env=order_path.settings.as_env())
    try:
        yield order_path
    finally:
        stop_workers([orderbook])


@pytest.fixture
def browser() -> Iterator[Chrome]:
    with chromium() as driver:
        yield driver


def _place(client: httpx.Client, account: str, symbol: str, side: str, price: str) -> str:
    body = {"account": account, "symbol": symbol, "side": side, "type": "limit", "quantity": "0.5", "price": price}
    response = client.post("/v1/orders", json=body)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["order_id"]
    return order_id


def _row_status(driver: Chrome, order_id: str) -> str | None:
    rows = find(driver, f'#blotter tr[data-order-id="{order_id}"]')
    return rows[0].get_attribute("data-status") if rows else None


def test_an_order_shows_in_the_blotter_and_fills_and_a_trader_sees_only_its_accounts(
    pipeline: ApiEnv, browser: Chrome
) -> None:
    symbol = f"C{uuid.uuid4().hex[:8].upper()}"
    log_in(browser, pipeline.api.base_url, pipeline.keys.trader)
    with pipeline.client(pipeline.keys.trader) as trader, pipeline.client(pipeline.keys.other_trader) as other:
        sell = _place(trader, OWN, symbol, "sell", "100")
        wait_until(browser, lambda d: _row_status(d, sell) == "NEW", STARTUP_S, "the sell to show as NEW")
        buy = _place(other, OTHER, symbol, "buy", "101")
        wait_until(browser, lambda d: _row_status(d, sell) == "FILLED", SETTLE_S, "the sell to show as FILLED")
    fills = wait_until(browser, lambda d: find(d, "#fills tbody tr"), SETTLE_S, "the fill")
    assert [f.find_elements(By.TAG_NAME, "td")[5].text for f in fills] == ["100"]  # the maker's price

    find(browser, f'#blotter tr[data-order-id="{sell}"]')[0].click()
    events = wait_until(browser, lambda d: find(d, "#panel-events tbody tr"), SETTLE_S, "the order's history")
    assert [row.find_elements(By.TAG_NAME, "td")[2].text for row in events] == ["PENDING_NEW", "ACCEPTED", "FILLED"]
    assert not browser.find_element(By.ID, "panel-audit").is_displayed()  # no audit route here: the history alone

    show(browser, "positions")
    wait_until(browser, lambda d: find(d, f'#positions tr[data-account="{OWN}"]'), SETTLE_S, "the position")
    accounts = {row.get_attribute("data-account") for row in find(browser, "tr[data-account]")}
    assert accounts == {OWN}  # neither the buyer's order nor its position reached this key's page
    assert not find(browser, f'#blotter tr[data-order-id="{buy}"]')


def test_a_trader_submits_amends_and_cancels_an_order_from_the_console(pipeline: ApiEnv, browser: Chrome) -> None:
    symbol = f"S{uuid.uuid4().hex[:8].upper()}"
    log_in(browser, pipeline.api.base_url, pipeline.keys.trader)
    form = browser.find_element(By.ID, "order-form")
    assert form.find_element(By.NAME, "account").get_attribute("value") == OWN  # the key's account, filled in
    for name, value in (("symbol", symbol), ("quantity", "2"), ("price", "50")):
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button").click()

    def submitted(driver: Chrome) -> str | None:
        rows = find(driver, f'#blotter tr[data-symbol="{symbol}"]')
        return rows[0].get_attribute("data-order-id") if rows else None

    order_id = wait_until(browser, submitted, STARTUP_S, "the submitted order in the blotter")
    wait_until(browser, lambda d: _row_status(d, order_id) == "NEW", STARTUP_S, "the order to rest")
    find(browser, f'#blotter tr[data-order-id="{order_id}"]')[0].click()
    amend = wait_until(browser, lambda d: d.find_element(By.ID, "amend-form"), SETTLE_S, "the amend form")
    amend.find_element(By.NAME, "price").send_keys("49.5")
    amend.find_element(By.CSS_SELECTOR, "button").click()
    price = f'#blotter tr[data-order-id="{order_id}"] td:nth-child(8)'
    wait_until(browser, lambda d: [c.text for c in find(d, price)] == ["49.5"], SETTLE_S, "the amended price")
    browser.find_element(By.ID, "cancel-order").click()
    wait_until(browser, lambda d: _row_status(d, order_id) == "CANCELLED", SETTLE_S, "the cancel")
    with pipeline.client(pipeline.keys.trader) as trader:
        order = trader.get(f"/v1/orders/{order_id}").json()
    assert (order["status"], order["price"], order["version"]) == ("CANCELLED", "49.5", 2)


def test_the_book_ladder_follows_the_depth_updates(pipeline: ApiEnv, browser: Chrome) -> None:
    symbol = f"B{uuid.uuid4().hex[:8].upper()}"
    producer = AvroProducer(pipeline.settings)

    def send(event: Event) -> None:
        producer.produce(event.topic, event.key, event.schema, dict(event.record))
        producer.flush(10)

    send(depth_snapshot(1, [(100 * P, 2 * P), (99 * P, 3 * P)], [(101 * P, P), (102 * P, 4 * P)], symbol=symbol))
    log_in(browser, pipeline.api.base_url, pipeline.keys.read_only)
    show(browser, "market")
    browser.find_element(By.ID, "market-symbol").send_keys(symbol)
    browser.find_element(By.CSS_SELECTOR, "#symbol-form button").click()

    def bid_quantity(driver: Chrome) -> str | None:
        rows = find(driver, '#ladder tr[data-side="bid"][data-price="100"]')
        return rows[0].find_elements(By.TAG_NAME, "td")[0].text if rows else None

    wait_until(browser, lambda d: bid_quantity(d) == "2", STARTUP_S, "the ladder's best bid")
    assert [r.get_attribute("data-price") for r in find(browser, "#ladder tbody tr")] == ["102", "101", "100", "99"]
    send(depth_update(2, bids=[(100 * P, 7 * P)], previous=1, symbol=symbol))
    wait_until(browser, lambda d: bid_quantity(d) == "7", SETTLE_S, "the ladder to show the update")


def test_a_risk_key_engages_and_releases_a_kill_switch_after_confirming(pipeline: ApiEnv, browser: Chrome) -> None:
    log_in(browser, pipeline.api.base_url, pipeline.keys.risk)
    show(browser, "risk")
    form = browser.find_element(By.ID, "kill-form")
    form.find_element(By.NAME, "target").send_keys(OTHER)
    form.find_element(By.NAME, "reason").send_keys("console test")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_until(browser, lambda d: d.find_element(By.ID, "confirm").is_displayed(), SETTLE_S, "the confirmation")
    browser.find_element(By.ID, "confirm-yes").click()
    engaged = f'#kill-switches tr[data-scope="account"][data-target="{OTHER}"]'
    wait_until(browser, lambda d: find(d, engaged), SETTLE_S, "the switch to show as engaged")
    with pipeline.client(pipeline.keys.other_trader) as other:  # in force: the next order is denied
        denied = _place(other, OTHER, f"K{uuid.uuid4().hex[:8].upper()}", "buy", "1")
        wait_until(
            browser,
            lambda _: other.get(f"/v1/orders/{denied}").json().get("last_reason") == "KILL_SWITCH",
            STARTUP_S,
            "the denial",
        )
    find(browser, f"{engaged} button.release")[0].click()
    wait_until(browser, lambda d: d.find_element(By.ID, "confirm").is_displayed(), SETTLE_S, "the confirmation")
    browser.find_element(By.ID, "confirm-yes").click()
    wait_until(browser, lambda d: not find(d, engaged), SETTLE_S, "the switch to show as released")

    with pipeline.client(pipeline.keys.risk) as risk:  # limits set before: the form keeps what it does not edit
        assert risk.put(f"/v1/risk/limits/{OTHER}", json={"reference_prices": {"BTCUSDT": "60000"}}).status_code == 202
        browser.find_element(By.ID, "limits-account").send_keys(OTHER)  # a key for every account names one
        browser.find_element(By.CSS_SELECTOR, "#limits-pick button").click()
        prices = '#limits-form input[name="reference_prices"]'
        wait_until(
            browser,
            lambda d: [f.get_attribute("value") for f in find(d, prices)] == ["BTCUSDT=60000"],
            SETTLE_S,
            "the limits in the form",
        )
        field = find(browser, '#limits-form input[name="max_open_orders"]')[0]
        field.clear()
        field.send_keys("77")
        browser.find_element(By.CSS_SELECTOR, "#limits-form button").click()
        saved = wait_until(
            browser,
            lambda _: (limits := risk.get(f"/v1/risk/limits/{OTHER}").json())["max_open_orders"] == 77 and limits,
            SETTLE_S,
            "the saved limits",
        )
    assert saved["reference_prices"] == {"BTCUSDT": "60000"}


def test_a_jwt_logs_in_and_the_page_offers_only_what_its_role_may_do(api_env: ApiEnv, browser: Chrome) -> None:
    token = token_for("auditor", Role.READ_ONLY, [OWN], SECRET, int(time.time()) + 600)
    with serve_api(api_env.settings, jwt_secret=SECRET) as api:
        log_in(browser, api.base_url, token)
        assert browser.find_element(By.ID, "who").text == f"read-only · {OWN}"
        assert not browser.find_element(By.ID, "order-form").is_displayed()  # read-only: no new orders
        show(browser, "risk")
        assert not browser.find_element(By.ID, "kill-form").is_displayed()
        browser.find_element(By.ID, "logout").click()
        wait_until(browser, lambda d: d.find_element(By.ID, "login-form").is_displayed(), SETTLE_S, "the login form")
        browser.find_element(By.ID, "login-secret").send_keys(token[:-4] + "AAAA")  # a forged signature
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        error = wait_until(browser, lambda d: d.find_element(By.ID, "login-error").text, SETTLE_S, "the refusal")
    assert error == "bad token signature"
