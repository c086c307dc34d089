"""The demo's trading session, driven through the API over HTTP, and its summary.

The order stream is connectors/order_flow.OrderFlow's (seeded; crossing and resting limit orders, market,
IOC and FOK orders, cancels, amends, a few invalid commands), turned into JSON bodies with decimal strings.
Each run has an id of its own, prefixed to its accounts and client order ids, so a second run on the same
topics and tables starts clean: new accounts (no positions, no kill switch), new orders.

Halfway through, a kill switch episode: the switch is engaged for one account, a few of its orders are
denied KILL_SWITCH, the switch is released and its orders flow again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.amounts import maybe_text, text
from connectors.order_flow import FlowCommand, FlowConfig, OrderFlow
from processors.core import Record
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER

KILL_SWITCH_ORDERS = 3  # orders sent for the switched-off account while its switch is on
VISIBLE_TIMEOUT_S = 60.0  # a cancel or amend waits until the order is in the projection (workers may be starting)
LIMIT_AMOUNTS = {
    "max_order_quantity": "quantity",
    "max_order_notional": "cash",
    "max_position_quantity": "quantity",
    "daily_loss_limit": "cash",
}
DENIED = ("REJECTED", "KILL_SWITCH")  # an order the kill switch stopped
LIMIT_COUNTS = ("max_open_orders", "orders_per_second", "order_burst", "price_collar_bps")


class SessionStopped(Exception):
    """Ctrl-C while the session was being driven."""


# -- flow records → JSON bodies (pure) --------------------------------------------------------------------
def demo_account(run_id: str, flow_account: str) -> str:
    return f"{run_id}-{flow_account}"


def order_body(record: Record, account: str) -> dict[str, Any]:
    """A NewOrder record as the body of POST /v1/orders; the API turns the decimal strings back exactly."""
    body: dict[str, Any] = {
        "account": account,
        "symbol": record["symbol"],
        "side": record["side"].lower(),
        "type": record["order_type"].lower(),
        "quantity": text(record["quantity"], "quantity"),
        "time_in_force": record["time_in_force"].lower(),
        "client_order_id": record["client_order_id"],
    }
    if record["price"] is not None:
        body["price"] = text(record["price"], "price")
    if record["stop_price"] is not None:
        body["stop_price"] = text(record["stop_price"], "price")
    return body


def amend_body(record: Record) -> dict[str, Any]:
    fields = {
        "quantity": maybe_text(record["quantity"], "quantity"),
        "price": maybe_text(record["price"], "price"),
        "stop_price": maybe_text(record["stop_price"], "price"),
    }
    return {name: value for name, value in fields.items() if value is not None}


def limits_body(record: Record) -> dict[str, Any]:
    """A RiskLimits record (as `sq flow` sends it) as the body of PUT /v1/risk/limits/{account}."""
    body: dict[str, Any] = {name: text(record[name], scale) for name, scale in LIMIT_AMOUNTS.items()}
    body.update({name: record[name] for name in LIMIT_COUNTS})
    body["allowed_symbols"] = list(record["allowed_symbols"])
    body["reference_prices"] = {s: text(p, "price") for s, p in record["reference_prices"].items()}
    return body


# -- the session ------------------------------------------------------------------------------------------
@dataclass
class SessionStats:
    placed: int = 0  # new orders the API accepted (202)
    cancels: int = 0
    amends: int = 0
    http_refusals: Counter[str] = field(default_factory=Counter)  # "422", "404", "409" …
    kill_switch_account: str | None = None
    kill_switch_orders: list[str] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "cancels": self.cancels,
            "amends": self.amends,
            "http_refusals": dict(sorted(self.http_refusals.items())),
        }


@dataclass
class Session:
    """Drives one run's flow through the API with one key (admin for the run's accounts)."""

    client: httpx.Client
    run_id: str
    orders: int
    stop: threading.Event
    seed: int = 7
    accounts: int = 4
    rate: float | None = None  # commands per second; None: as fast as the API takes them
    stats: SessionStats = field(default_factory=SessionStats)
    _ids: dict[str, str] = field(default_factory=dict)  # the flow's order id → the API's (accounts differ)
    _last_order: dict[str, str] = field(default_factory=dict)  # account → the last order placed for it

    def flow(self) -> OrderFlow:
        return OrderFlow(
            FlowConfig(orders=self.orders, seed=self.seed, accounts=self.accounts, run_id=self.run_id, start_time_us=0)
        )

    def run_accounts(self) -> list[str]:
        return [demo_account(self.run_id, a) for a in self.flow().accounts()]

    def set_limits(self) -> dict[int, int]:
        """Each account's limits (with the reference prices a market order is valued at) through the API;
        the last offset written to each partition of risk.limits."""
        written: dict[int, int] = {}
        for limits in self.flow().limits():
            account = demo_account(self.run_id, limits.key)
            response = self._call("PUT", f"/v1/risk/limits/{account}", json=limits_body(limits.record))
            self._expect(response, 202)
            accepted = response.json()
            written[accepted["partition"]] = max(written.get(accepted["partition"], -1), accepted["offset"])
        return written

    def drive(self) -> SessionStats:
        """The flow's commands (after ``set_limits`` has been applied by risk)."""
        flow = self.flow()
        began = time.monotonic()
        episode_at = max(1, self.orders // 2)
        for sent, command in enumerate(self._with_kill_switch_episode(flow, episode_at), start=1):
            if self.stop.is_set():
                raise SessionStopped()
            if self.rate and (delay := began + sent / self.rate - time.monotonic()) > 0:
                self.stop.wait(delay)
            self._send(command)
        return self.stats

    def _with_kill_switch_episode(self, flow: OrderFlow, episode_at: int) -> Iterator[FlowCommand]:
        """The flow's commands; after ``episode_at`` new orders, the next few go to one account while its
        kill switch is on (the switch is engaged before them and released after them)."""
        victim = demo_account(self.run_id, flow.accounts()[0])
        new_orders = 0
        redirect = 0
        for command in flow.commands():
            if command.schema == NEW_ORDER:
                new_orders += 1
                if new_orders == episode_at + 1:
                    if before := self._last_order.get(victim):  # decided before the switch: only what follows
                        self._wait_until_visible(before)  # it is denied, so the episode reads plainly
                    self._kill_switch(victim, engage=True)
                    redirect = KILL_SWITCH_ORDERS
                if redirect:
                    redirect -= 1
                    self.stats.kill_switch_orders.append(self._place(command.record, victim))
                    if redirect == 0:
                        self._release_after_decided(victim)
                    continue
            yield command
        if redirect:  # the flow ended inside the episode: release the switch all the same
            self._release_after_decided(victim)

    def _release_after_decided(self, account: str) -> None:
        """Release the switch once risk has decided the orders sent under it (the projection shows them):
        released at once, risk could read the release before those orders and let them through."""
        for order_id in filter(None, self.stats.kill_switch_orders):
            self._wait_until_visible(order_id)
        self._kill_switch(account, engage=False)

    def _wait_until_visible(self, order_id: str) -> None:
        deadline = time.monotonic() + VISIBLE_TIMEOUT_S
        while self._call("GET", f"/v1/orders/{order_id}").status_code == 404:
            if time.monotonic() > deadline:
                raise RuntimeError(f"order {order_id} did not reach the projection within {VISIBLE_TIMEOUT_S:.0f} s")
            if self.stop.wait(0.02):
                raise SessionStopped()

    def _kill_switch(self, account: str, *, engage: bool) -> None:
        self.stats.kill_switch_account = account
        if engage:
            body = {"scope": "account", "target": account, "reason": f"demo {self.run_id}: kill switch episode"}
            response = self._call("POST", "/v1/risk/kill-switch", json=body)
        else:
            response = self._call("DELETE", "/v1/risk/kill-switch", params={"scope": "account", "target": account})
        self._expect(response, 202)

    def _send(self, command: FlowCommand) -> None:
        account = demo_account(self.run_id, command.key)
        if command.schema == NEW_ORDER:
            self._place(command.record, account)
        elif command.schema == CANCEL_ORDER:
            self._on_order("DELETE", command.record["order_id"], None)
            self.stats.cancels += 1
        elif command.schema == AMEND_ORDER:
            self._on_order("PATCH", command.record["order_id"], amend_body(command.record))
            self.stats.amends += 1

    def _place(self, record: Record, account: str) -> str:
        response = self._call("POST", "/v1/orders", json=order_body(record, account))
        if response.status_code != 202:  # an invalid order of the flow: the API refuses it (422)
            self.stats.http_refusals[str(response.status_code)] += 1
            return ""
        order_id: str = response.json()["order_id"]
        self._ids[record["order_id"]] = order_id
        self._last_order[account] = order_id
        self.stats.placed += 1
        self.stats.order_ids.append(order_id)
        return order_id

    def _on_order(self, method: str, flow_order_id: str, body: dict[str, Any] | None) -> None:
        """Cancel or amend; an order the projection does not show yet (404) is retried until it does."""
        order_id = self._ids.get(flow_order_id)
        if order_id is None:  # the flow's cancel of an order that never existed: the API's 404
            response = self._call(method, f"/v1/orders/{flow_order_id}", json=body)
        else:
            deadline = time.monotonic() + VISIBLE_TIMEOUT_S
            while (response := self._call(method, f"/v1/orders/{order_id}", json=body)).status_code == 404:
                if time.monotonic() > deadline or self.stop.wait(0.02):
                    break
        if response.status_code != 202:  # 409: the order finished first (filled, cancelled, rejected)
            self.stats.http_refusals[str(response.status_code)] += 1

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 429 is waited out (Retry-After) and sent again, as a well-behaved client does."""
        while True:
            response = self.client.request(method, path, **kwargs)
            if response.status_code != 429:
                return response
            if self.stop.wait(float(response.headers.get("Retry-After", "1"))):
                raise SessionStopped()

    @staticmethod
    def _expect(response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
            )


# -- waiting for the projections, and the summary ----------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    """What the projections must show for the run's accounts once they have caught up with the log."""

    order_versions: Mapping[str, int]
    fills: frozenset[tuple[str, str]]
    position_versions: Mapping[tuple[str, str], int]


def expected_from_log(
    order_events: Sequence[Mapping[str, Any]], positions: Sequence[Mapping[str, Any]], accounts: set[str]
) -> Expected:
    versions: dict[str, int] = {}
    fills: set[tuple[str, str]] = set()
    for event in order_events:
        if event["account"] in accounts:
            versions[event["order_id"]] = max(versions.get(event["order_id"], 0), event["version"])
            if event["fill_id"] is not None:
                fills.add((event["order_id"], event["fill_id"]))
    position_versions: dict[tuple[str, str], int] = {}
    for p in positions:
        if p["account"] in accounts:
            key = (p["account"], p["symbol"])
            position_versions[key] = max(position_versions.get(key, 0), p["version"])
    return Expected(versions, frozenset(fills), position_versions)


@dataclass(frozen=True)
class Projection:
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    positions: list[dict[str, Any]]

    def shows(self, expected: Expected) -> bool:
        return (
            {o["order_id"]: o["version"] for o in self.orders} == dict(expected.order_versions)
            and {(f["order_id"], f["fill_id"]) for f in self.fills} == expected.fills
            and {(p["account"], p["symbol"]): p["version"] for p in self.positions} == dict(expected.position_versions)
        )


def read_projection(client: httpx.Client) -> Projection:
    """Every order, fill and position the key may see (the run's accounts), through the API."""
    return Projection(
        _all_pages(client, "/v1/orders"), _all_pages(client, "/v1/fills"), _json_list(client.get("/v1/positions"))
    )


def _all_pages(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        response = client.get(path, params=params)
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()
    return items


def summary(projection: Projection, stats: SessionStats) -> dict[str, Any]:
    """Counts from the projections: orders (by status), fills, positions, rejected orders by reason."""
    rejects = Counter(o["last_reason"] or "UNKNOWN" for o in projection.orders if o["status"] == "REJECTED")
    by_status = Counter(o["status"] for o in projection.orders)
    kill_switch = stats.kill_switch_account
    under_switch = set(stats.kill_switch_orders)
    denied = sum(  # orders, not amends: an amend refused under the switch leaves its order live
        1 for o in projection.orders if o["order_id"] in under_switch and (o["status"], o["last_reason"]) == DENIED
    )
    return {
        "orders": len(projection.orders),
        "orders_by_status": dict(sorted(by_status.items())),
        "fills": len(projection.fills),
        "positions": len(projection.positions),
        "rejects": dict(sorted(rejects.items())),
        "kill_switch": {"account": kill_switch, "orders_sent": len(stats.kill_switch_orders), "denied": denied},
        "session": stats.as_json(),
    }
