"""Typed queries over the projections, for the API: orders, an order's history, fills and positions.

Every function takes an open psycopg connection and returns plain frozen dataclasses (``as_json()`` gives
a dict). Amounts are the wire's fixed-point ints (schemas/scales.py); times are event-time microseconds.
Lists are newest first and keyset-paginated: a page carries ``next_cursor``, an opaque string to pass back
as ``cursor`` for the next page (stable under concurrent inserts, unlike OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from connectors.postgres.projection import FILL_EVENT_TYPES, FillRow

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

T = TypeVar("T")


class InvalidCursor(ValueError):
    """A cursor that this module did not produce (or produced for another listing)."""


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    status: str
    version: int
    quantity: int
    price: int | None
    stop_price: int | None
    cum_quantity: int
    leaves_quantity: int
    avg_price: int | None
    client_order_id: str
    parent_order_id: str | None
    venue: str | None
    post_only: bool
    reduce_only: bool
    expire_time_us: int | None
    last_event_type: str
    last_reason: str | None
    last_detail: str
    created_time_us: int
    updated_time_us: int
    last_event_id: str
    event_count: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    event_id: str
    order_id: str
    account: str
    sequence: int
    event_type: str
    status: str
    version: int
    event_time_us: int
    event: dict[str, Any]  # the OrderEvent as decoded from the topic
    source_topic: str
    source_partition: int
    source_offset: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Fill(FillRow):
    """A row of the fills table: the fields are the projection's own (connectors/postgres/projection.py)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Position:
    account: str
    symbol: str
    quantity: int
    avg_price: int | None
    realized_pnl: int
    unrealized_pnl: int
    fees: int
    cash: int
    mark_price: int | None
    fill_count: int
    last_fill_id: str | None
    version: int
    updated_time_us: int
    last_event_id: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None on the last page

    def as_json(self) -> dict[str, Any]:
        return {"items": [asdict(item) for item in self.items], "next_cursor": self.next_cursor}  # type: ignore[call-overload]


_ORDER_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in Order.__dataclass_fields__)
_EVENT_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in OrderEventRow.__dataclass_fields__)
_FILL_COLUMNS = sql.SQL(", ").join(
    sql.SQL("coalesce(f.side, o.side) AS side") if name == "side" else sql.SQL("f.{}").format(sql.Identifier(name))
    for name in Fill.__dataclass_fields__
)
_POSITION_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in Position.__dataclass_fields__)


# -- orders -------------------------------------------------------------------------------------------------
def list_orders(
    conn: psycopg.Connection[Any],
    *,
    account: str | None = None,
    accounts: Collection[str] | None = None,
    symbol: str | None = None,
    status: str | Collection[str] | None = None,
    created_from_us: int | None = None,
    created_to_us: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Order]:
    """Orders newest first (by creation time), filtered; ``accounts`` restricts to the caller's accounts.

    The time range is half-open: ``created_from_us <= created_time_us < created_to_us``.
    """
    where = _Where()
    where.equal("account", account)
    where.within("account", accounts)
    where.equal("symbol", symbol)
    where.within("status", [status] if isinstance(status, str) else status)
    where.time_range("created_time_us", created_from_us, created_to_us)
    where.before_cursor("created_time_us", "order_id", _decode_cursor(cursor, "orders", 2))
    limit = _checked_limit(limit)
    query = sql.SQL("SELECT {} FROM orders WHERE {} ORDER BY created_time_us DESC, order_id DESC LIMIT {}").format(
        _ORDER_COLUMNS, where.clause(), sql.Literal(limit + 1)
    )
    with conn.cursor(row_factory=class_row(Order)) as cur:
        rows = cur.execute(query, where.params).fetchall()
    return _page(rows, limit, "orders", lambda o: [o.created_time_us, o.order_id])


def get_order(conn: psycopg.Connection[Any], order_id: str) -> Order | None:
    query = sql.SQL("SELECT {} FROM orders WHERE order_id = %s").format(_ORDER_COLUMNS)
    with conn.cursor(row_factory=class_row(Order)) as cur:
        return cur.execute(query, (order_id,)).fetchone()


def child_orders(conn: psycopg.Connection[Any], parent_order_id: str, *, limit: int = MAX_LIMIT) -> list[Order]:
    """The children of an algorithmic parent, oldest first (the order the router placed them in)."""
    query = sql.SQL(
        "SELECT {} FROM orders WHERE parent_order_id = %s ORDER BY created_time_us, order_id LIMIT %s"
    ).format(_ORDER_COLUMNS)
    with conn.cursor(row_factory=class_row(Order)) as cur:
        return cur.execute(query, (parent_order_id, _checked_limit(limit))).fetchall()


def order_events(
    conn: psycopg.Connection[Any], order_id: str, *, after_sequence: int = 0, limit: int = MAX_LIMIT
) -> list[OrderEventRow]:
    """An order's events in its history's order (sequence 1, 2, …), from ``after_sequence`` on."""
    query = sql.SQL(
        "SELECT {} FROM order_events WHERE order_id = %s AND sequence > %s ORDER BY sequence LIMIT %s"
    ).format(_EVENT_COLUMNS)
    with conn.cursor(row_factory=class_row(OrderEventRow)) as cur:
        return cur.execute(query, (order_id, after_sequence, _checked_limit(limit))).fetchall()


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What the projection holds of one command about an order: its answer, and whether the venue took it."""

    event_type: str  # the OrderEvent that answers the command (its ``command_id``): PENDING_NEW, DENIED, …
    venue_accepted: bool  # the order has an ACCEPTED event (the venue acknowledged it)
    order: Order | None  # the order's row as projected with that answer (None: the answer made no order)


def command_outcome(conn: psycopg.Connection[Any], order_id: str, command_id: str) -> CommandOutcome | None:
    """The projected answer to the command ``command_id`` about ``order_id``, None while it is not projected.

    An answer's event row and the order's row are written in one sink transaction, so a found answer comes
    with an order row that already reflects it. The event scan uses the (order_id, sequence) index.
    """
    answer = conn.execute(
        "SELECT (array_agg(event_type ORDER BY sequence) FILTER (WHERE event->>'command_id' = %s))[1],"
        " coalesce(bool_or(event_type = 'ACCEPTED'), false) FROM order_events WHERE order_id = %s",
        (command_id, order_id),
    ).fetchone()
    if answer is None or answer[0] is None:
        return None
    return CommandOutcome(str(answer[0]), bool(answer[1]), get_order(conn, order_id))


@dataclass(frozen=True, slots=True)
class OrderFills:
    """The fills an order's execution is measured on: its children's when it has any, else its own."""

    children: int  # orders that name it as their parent
    events: list[OrderEventRow]  # in event time
    created_us: dict[str, int]  # each filled order's creation (its first event): when it was decided


def order_fills(conn: psycopg.Connection[Any], order_id: str) -> OrderFills:
    """The fill events (``last_quantity`` > 0) of the order's children, or of the order when it has none. A
    parent's roll-up of a child's fill carries ``last_quantity`` 0 (the child's event is the fill): not one."""
    (children,) = conn.execute("SELECT count(*) FROM orders WHERE parent_order_id = %s", (order_id,)).fetchone() or (0,)
    owners = sql.SQL("SELECT order_id FROM orders WHERE parent_order_id = %s") if children else sql.SQL("SELECT %s")
    query = sql.SQL(
        "SELECT {} FROM order_events WHERE order_id IN ({}) AND event_type = ANY(%s)"
        " AND (event->>'last_quantity')::bigint > 0 ORDER BY event_time_us, order_id, sequence"
    ).format(_EVENT_COLUMNS, owners)
    with conn.cursor(row_factory=class_row(OrderEventRow)) as cur:
        events = cur.execute(query, (order_id, sorted(FILL_EVENT_TYPES))).fetchall()
    filled = sorted({row.order_id for row in events})
    created = conn.execute(
        "SELECT order_id, created_time_us FROM orders WHERE order_id = ANY(%s)", (filled,)
    ).fetchall()
    return OrderFills(int(children), events, {str(order): int(time_us) for order, time_us in created})


# -- fills --------------------------------------------------------------------------------------------------
def list_fills(
    conn: psycopg.Connection[Any],
    *,
    account: str | None = None,
    accounts: Collection[str] | None = None,
    symbol: str | None = None,
    order_id: str | None = None,
    from_us: int | None = None,
    to_us: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Fill]:
    """Fills newest first (by event time), filtered; the side comes from the order when only the venue told."""
    where = _Where(prefix="f.")
    where.equal("account", account)
    where.within("account", accounts)
    where.equal("symbol", symbol)
    where.equal("order_id", order_id)
    where.time_range("event_time_us", from_us, to_us)
    where.before_cursor("event_time_us", ("order_id", "fill_id"), _decode_cursor(cursor, "fills", 3))
    limit = _checked_limit(limit)
    query = sql.SQL(
        "SELECT {} FROM fills f LEFT JOIN orders o ON o.order_id = f.order_id WHERE {} "
        "ORDER BY f.event_time_us DESC, f.order_id DESC, f.fill_id DESC LIMIT {}"
    ).format(_FILL_COLUMNS, where.clause(), sql.Literal(limit + 1))
    with conn.cursor(row_factory=class_row(Fill)) as cur:
        rows = cur.execute(query, where.params).fetchall()
    return _page(rows, limit, "fills", lambda f: [f.event_time_us, f.order_id, f.fill_id])


# -- positions ----------------------------------------------------------------------------------------------
def positions(
    conn: psycopg.Connection[Any], account: str | None = None, *, accounts: Collection[str] | None = None
) -> list[Position]:
    """Positions by account then symbol: every account's, one account's, or those of ``accounts``."""
    where = _Where()
    where.equal("account", account)
    where.within("account", accounts)
    query = sql.SQL("SELECT {} FROM positions WHERE {} ORDER BY account, symbol").format(
        _POSITION_COLUMNS, where.clause()
    )
    with conn.cursor(row_factory=class_row(Position)) as cur:
        return cur.execute(query, where.params).fetchall()


def get_position(conn: psycopg.Connection[Any], account: str, symbol: str) -> Position | None:
    query = sql.SQL("SELECT {} FROM positions WHERE account = %s AND symbol = %s").format(_POSITION_COLUMNS)
    with conn.cursor(row_factory=class_row(Position)) as cur:
        return cur.execute(query, (account, symbol)).fetchone()


# -- helpers ------------------------------------------------------------------------------------------------
class _Where:
    """AND-ed conditions with their parameters; an absent filter adds nothing."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def _column(self, name: str) -> sql.Composable:
        if self.prefix:
            return sql.SQL("{}.{}").format(sql.Identifier(self.prefix.rstrip(".")), sql.Identifier(name))
        return sql.Identifier(name)

    def equal(self, column: str, value: object | None) -> None:
        if value is not None:
            self.parts.append(sql.SQL("{} = %s").format(self._column(column)))
            self.params.append(value)

    def within(self, column: str, values: Collection[str] | None) -> None:
        if values is not None:  # an empty collection matches nothing, on purpose (a key with no accounts)
            self.parts.append(sql.SQL("{} = ANY(%s)").format(self._column(column)))
            self.params.append(list(values))

    def time_range(self, column: str, start: int | None, end: int | None) -> None:
        if start is not None:
            self.parts.append(sql.SQL("{} >= %s").format(self._column(column)))
            self.params.append(start)
        if end is not None:
            self.parts.append(sql.SQL("{} < %s").format(self._column(column)))
            self.params.append(end)

    def before_cursor(self, time_column: str, id_columns: str | tuple[str, ...], key: list[Any] | None) -> None:
        """Rows after the cursor in (time DESC, ids DESC) order: a row-value comparison the indexes serve."""
        if key is None:
            return
        names = (time_column, *((id_columns,) if isinstance(id_columns, str) else id_columns))
        columns = sql.SQL(", ").join(self._column(n) for n in names)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in names)
        self.parts.append(sql.SQL("({}) < ({})").format(columns, marks))
        self.params.extend(key)

    def clause(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("TRUE")


def _checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def _page(rows: list[T], limit: int, listing: str, key_of: Any) -> Page[T]:
    if len(rows) <= limit:
        return Page(rows, None)
    items = rows[:limit]
    return Page(items, _encode_cursor(listing, key_of(items[-1])))


def _encode_cursor(listing: str, key: Sequence[Any]) -> str:
    raw = json.dumps([listing, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None, listing: str, width: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor(f"not a cursor of this API: {cursor!r}") from error
    if not isinstance(decoded, list) or len(decoded) != width + 1 or decoded[0] != listing:
        raise InvalidCursor(f"not a cursor of the {listing} listing: {cursor!r}")
    key = decoded[1:]
    if not isinstance(key[0], int) or isinstance(key[0], bool) or not all(isinstance(k, str) for k in key[1:]):
        raise InvalidCursor(f"malformed {listing} cursor: {cursor!r}")
    if not _BIGINT_MIN <= key[0] <= _BIGINT_MAX or not all(_storable(k) for k in key[1:]):
        raise InvalidCursor(f"not a cursor of this API: {cursor!r}")  # no row has such a key: forged
    return key


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def _storable(text: str) -> bool:
    """Whether PostgreSQL text can hold ``text``: no NUL, and UTF-8 encodable (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
