"""Read models: filters, keyset pagination, an order's history in order, fills and positions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from connectors.postgres import read_models as rm

pytestmark = pytest.mark.integration

BASE_US = 1_760_000_000_000_000


@pytest.fixture
def conn(migrated: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(migrated, autocommit=True) as connection:
        yield connection


def _order(conn: psycopg.Connection[Any], n: int, account: str, symbol: str, status: str) -> None:
    conn.execute(
        "INSERT INTO orders VALUES (%s, %s, %s, 'BUY', 'LIMIT', 'GTC', %s, 2, 100000000, 6425000000000, NULL, 0, "
        "100000000, NULL, %s, NULL, 'sim', false, false, NULL, 'ACCEPTED', NULL, '', %s, %s, %s, 2)",
        (f"o{n:03d}", account, symbol, status, f"c{n}", BASE_US + n // 2, BASE_US + n, f"e{n}"),
    )  # n // 2: pairs of orders share a creation time, so pagination must break ties by order id


def _orders(conn: psycopg.Connection[Any]) -> None:
    for n in range(30):
        _order(conn, n, f"A{n % 3}", ("BTCUSDT", "ETHUSDT")[n % 2], ("NEW", "FILLED", "CANCELLED")[n % 5 % 3])


def _all_pages(fetch: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = fetch(cursor)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def test_orders_come_newest_first_and_pages_cover_every_order_once(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    paged = _all_pages(lambda cursor: rm.list_orders(conn, limit=7, cursor=cursor))
    whole = rm.list_orders(conn, limit=1000).items
    assert [o.order_id for o in paged] == [o.order_id for o in whole]
    assert len(whole) == 30
    keys = [(o.created_time_us, o.order_id) for o in whole]
    assert keys == sorted(keys, reverse=True)


def test_order_filters_combine(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    found = _all_pages(lambda c: rm.list_orders(conn, account="A1", symbol="ETHUSDT", limit=2, cursor=c))
    expected = {f"o{n:03d}" for n in range(30) if n % 3 == 1 and n % 2 == 1}
    assert {o.order_id for o in found} == expected
    assert {o.status for o in rm.list_orders(conn, status="CANCELLED").items} == {"CANCELLED"}
    assert len(rm.list_orders(conn, status=["CANCELLED", "NEW"]).items) == sum(n % 5 % 3 != 1 for n in range(30))
    window = rm.list_orders(conn, created_from_us=BASE_US + 2, created_to_us=BASE_US + 5).items
    assert sorted(o.order_id for o in window) == [f"o{n:03d}" for n in range(4, 10)]


def test_accounts_restrict_what_a_caller_sees(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    assert {o.account for o in rm.list_orders(conn, accounts=["A0", "A2"]).items} == {"A0", "A2"}
    assert rm.list_orders(conn, accounts=[]).items == []
    assert rm.list_orders(conn, account="A1", accounts=["A0"]).items == []


def test_a_cursor_of_another_listing_or_garbage_is_refused(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    cursor = rm.list_orders(conn, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(rm.InvalidCursor):
        rm.list_fills(conn, cursor=cursor)
    with pytest.raises(rm.InvalidCursor):
        rm.list_orders(conn, cursor="not-a-cursor")
    with pytest.raises(ValueError, match="limit"):
        rm.list_orders(conn, limit=0)


def test_get_order_finds_one_or_none(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    order = rm.get_order(conn, "o007")
    assert order is not None and order.account == "A1" and order.price == 6425000000000
    assert rm.get_order(conn, "missing") is None


def test_order_events_come_in_sequence_order(conn: psycopg.Connection[Any]) -> None:
    for sequence in (3, 1, 2):
        conn.execute(
            "INSERT INTO order_events VALUES (%s, 'o1', 'A1', %s, 'ACCEPTED', 'NEW', %s, %s, %s, 'orders.events', "
            "0, %s)",
            (f"e{sequence}", sequence, sequence, BASE_US + sequence, Jsonb({"version": sequence}), sequence),
        )
    events = rm.order_events(conn, "o1")
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[0].event == {"version": 1}
    assert [e.sequence for e in rm.order_events(conn, "o1", after_sequence=1)] == [2, 3]
    assert rm.order_events(conn, "o2") == []


def test_fills_filter_paginate_and_take_the_side_from_the_order(conn: psycopg.Connection[Any]) -> None:
    _orders(conn)
    for n in range(12):
        conn.execute(
            "INSERT INTO fills VALUES (%s, %s, %s, 'BTCUSDT', NULL, 1000, 6425000000000, 5, 'TAKER', 'sim', %s, "
            "NULL, %s)",
            (f"o{n % 4:03d}", f"f{n // 2}", f"A{n % 4 % 3}", BASE_US + n // 3, f"x{n}"),
        )
    paged = _all_pages(lambda c: rm.list_fills(conn, limit=5, cursor=c))
    assert len(paged) == 12 == len({(f.order_id, f.fill_id) for f in paged})
    assert all(f.side == "BUY" for f in paged)  # from the orders table
    assert {f.order_id for f in rm.list_fills(conn, account="A0").items} == {"o000", "o003"}
    assert {f.fill_id for f in rm.list_fills(conn, order_id="o001").items} == {"f0", "f2", "f4"}
    assert len(rm.list_fills(conn, from_us=BASE_US + 3).items) == 3


def test_positions_of_everyone_or_one_account(conn: psycopg.Connection[Any]) -> None:
    for account, symbol in (("A2", "BTCUSDT"), ("A1", "ETHUSDT"), ("A1", "BTCUSDT")):
        conn.execute(
            "INSERT INTO positions VALUES (%s, %s, 100, 6425000000000, 0, -7, 3, -64250003, NULL, 1, 'f1', 1, %s, "
            "'p1')",
            (account, symbol, BASE_US),
        )
    assert [(p.account, p.symbol) for p in rm.positions(conn)] == [
        ("A1", "BTCUSDT"),
        ("A1", "ETHUSDT"),
        ("A2", "BTCUSDT"),
    ]
    assert [p.symbol for p in rm.positions(conn, "A1")] == ["BTCUSDT", "ETHUSDT"]
    assert rm.positions(conn, accounts=["A9"]) == []
    position = rm.get_position(conn, "A2", "BTCUSDT")
    assert position is not None and position.unrealized_pnl == -7 and position.as_json()["cash"] == -64250003


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(
        st.tuples(st.sampled_from(["A0", "A1", "A2"]), st.sampled_from(["NEW", "FILLED"]), st.integers(0, 5)),
        max_size=25,
    ),
    account=st.sampled_from([None, "A0", "A1"]),
    status=st.sampled_from([None, "NEW"]),
    start=st.sampled_from([None, 1, 3]),
    limit=st.integers(1, 6),
)
def test_pages_concatenate_to_the_filtered_list_newest_first(
    conn: psycopg.Connection[Any],
    orders: list[tuple[str, str, int]],
    account: str | None,
    status: str | None,
    start: int | None,
    limit: int,
) -> None:
    conn.execute("TRUNCATE orders")
    for n, (acct, state, created) in enumerate(orders):
        conn.execute(
            "INSERT INTO orders VALUES (%s, %s, 'BTCUSDT', 'BUY', 'LIMIT', 'GTC', %s, 1, 1, 1, NULL, 0, 1, NULL, "
            "%s, NULL, NULL, false, false, NULL, 'ACCEPTED', NULL, '', %s, %s, %s, 1)",
            (f"o{n:02d}", acct, state, f"c{n}", created, created, f"e{n}"),
        )
    expected = sorted(
        (
            (created, f"o{n:02d}")
            for n, (acct, state, created) in enumerate(orders)
            if account in (None, acct) and status in (None, state) and (start is None or created >= start)
        ),
        reverse=True,
    )
    paged = _all_pages(
        lambda c: rm.list_orders(conn, account=account, status=status, created_from_us=start, limit=limit, cursor=c)
    )
    assert [(o.created_time_us, o.order_id) for o in paged] == expected
