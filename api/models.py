"""Request and response bodies (``XCreate`` / ``XUpdate`` in, ``XPublic`` out): every amount a decimal string."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.amounts import Cash, CashOrZero, Price, PriceOffset, Quantity


def usable_text(value: str) -> str:
    """Refuse what cannot be passed on: NUL (PostgreSQL text refuses it, and commands end up in the projections)
    and lone surrogates (not UTF-8, which PostgreSQL and Avro strings both are)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone surrogate code point is not)") from None
    return value


Text = Annotated[str, AfterValidator(usable_text)]
"""Any string the API passes on to PostgreSQL or Kafka: every parameter that is not a pattern-checked one."""

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9._\-]*$", examples=["BTCUSDT"])]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored


# -- commands -----------------------------------------------------------------------------------------------
class ExecutionCreate(_Body):
    """Work the order with an algorithm instead of sending it as is."""

    algo: Literal["twap", "vwap", "pov", "iceberg", "peg", "smart", "implementation_shortfall", "sniper"] = Field(
        description="twap, vwap, pov, iceberg, peg, implementation_shortfall and sniper are worked "
        "(docs/EXECUTION.md); the others are rejected with the reason."
    )
    start_time: AwareDatetime | None = Field(None, description="Earliest start; absent = now.")
    end_time: AwareDatetime | None = Field(None, description="Complete by then; absent = no deadline.")
    participation_bps: Annotated[int, Field(ge=1, le=10_000)] | None = Field(None, description="POV target share.")
    display_quantity: Quantity | None = Field(None, description="Visible slice (iceberg).")
    peg_offset: PriceOffset | None = Field(
        None, description="Signed offset from the pegged price (peg); a positive one is more aggressive."
    )
    params: dict[Annotated[Text, Field(max_length=64)], Annotated[Text, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=32, description="Further algorithm parameters."
    )

    @model_validator(mode="after")
    def _window(self) -> ExecutionCreate:
        if self.start_time is not None and self.end_time is not None and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class OrderCreate(_Body):
    """A new order. ``price`` is required for limit and stop_limit, ``stop_price`` for stop and stop_limit."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account": "ACC-001",
                    "symbol": "BTCUSDT",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "0.015",
                    "price": "60000.5",
                    "time_in_force": "gtc",
                    "client_order_id": "strategy-7-000123",
                }
            ]
        },
    )

    account: Identifier
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop", "stop_limit"]
    quantity: Quantity
    price: Price | None = None
    stop_price: Price | None = None
    time_in_force: Literal["gtc", "ioc", "fok", "day", "gtd"] = "gtc"
    client_order_id: Identifier | None = Field(
        None,
        description="Your id, unique per account: resubmitting it names the same order (never a second "
        "one). Generated when absent.",
    )
    post_only: bool = False
    reduce_only: bool = False
    expire_time: AwareDatetime | None = Field(None, description="Expiry of a gtd order (ISO 8601 with zone).")
    venue: Identifier | None = None
    execution: ExecutionCreate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OrderCreate:
        needs_price = self.type in ("limit", "stop_limit")
        needs_stop = self.type in ("stop", "stop_limit")
        if needs_price and self.price is None:
            raise ValueError(f"price is required for a {self.type} order")
        if not needs_price and self.price is not None:
            raise ValueError(f"price must be absent for a {self.type} order")
        if needs_stop and self.stop_price is None:
            raise ValueError(f"stop_price is required for a {self.type} order")
        if not needs_stop and self.stop_price is not None:
            raise ValueError(f"stop_price must be absent for a {self.type} order")
        if (self.time_in_force == "gtd") != (self.expire_time is not None):
            raise ValueError("expire_time is required with time_in_force gtd, and only with it")
        if self.post_only and self.type != "limit":
            raise ValueError("post_only applies to limit orders only")
        return self


class OrderUpdate(_Body):
    """An amendment: the fields given replace the order's; at least one is needed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": "0.02", "price": "60010"}]})

    quantity: Quantity | None = Field(None, description="New total quantity (not the remaining one).")
    price: Price | None = None
    stop_price: Price | None = None

    @model_validator(mode="after")
    def _something(self) -> OrderUpdate:
        if self.quantity is None and self.price is None and self.stop_price is None:
            raise ValueError("give at least one of quantity, price, stop_price")
        return self


KillSwitchScope = Literal["global", "account", "symbol"]


class KillSwitchCreate(_Body):
    """Engage a kill switch: new orders in scope are denied from the very next command on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scope": "account", "target": "ACC-001", "cancel_open_orders": True, "reason": "strategy misbehaving"}
            ]
        },
    )

    scope: KillSwitchScope
    target: Identifier | None = Field(None, description="The account or symbol; absent for global.")
    cancel_open_orders: bool = False
    reason: Text = Field("", max_length=500)

    @model_validator(mode="after")
    def _target(self) -> KillSwitchCreate:
        check_scope_target(self.scope, self.target)
        return self


def check_scope_target(scope: str, target: str | None) -> None:
    if scope == "global" and target is not None:
        raise ValueError("target must be absent for the global scope")
    if scope != "global" and target is None:
        raise ValueError(f"target (the {scope}) is required for the {scope} scope")


class RiskLimitsUpdate(_Body):
    """An account's limits, replacing the current ones; a field left out takes the documented default
    (processors/risk/limits.py)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "max_order_quantity": "5",
                    "max_order_notional": "250000",
                    "max_position_quantity": "20",
                    "max_open_orders": 50,
                    "orders_per_second": 20,
                    "order_burst": 40,
                    "price_collar_bps": 500,
                    "daily_loss_limit": "50000",
                    "allowed_symbols": ["BTCUSDT", "ETHUSDT"],
                    "reference_prices": {"BTCUSDT": "60000"},
                }
            ]
        },
    )

    allowed_symbols: list[Symbol] | None = Field(None, description="Symbols the account may trade; [] = all.")
    max_order_quantity: Quantity | None = None
    max_order_notional: Cash | None = None
    max_position_quantity: Quantity | None = None
    max_open_orders: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    orders_per_second: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    order_burst: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    price_collar_bps: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    daily_loss_limit: CashOrZero | None = None
    reference_prices: dict[Symbol, Price] | None = None


# -- command answers ----------------------------------------------------------------------------------------
class CommandAccepted(BaseModel):
    """The command is in the log: where it is. Its outcome arrives as events (GET …/events, the stream)."""

    event_id: str = Field(description="The command's event id: the causation id of what it causes.")
    topic: str = Field(description="The Kafka topic the command was written to.")
    partition: int
    offset: int


class OrderAccepted(CommandAccepted):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "0b9f3c56-8d0e-5b43-9f0e-4a6f1d2b7c11",
                    "client_order_id": "strategy-7-000123",
                    "event_id": "7d1f3a0e-2c4b-4f7e-9d11-0c2a3b4c5d6e",
                    "topic": "orders.commands",
                    "partition": 2,
                    "offset": 41873,
                }
            ]
        }
    )

    order_id: str
    client_order_id: str
    order: OrderPublic | None = Field(
        default=None,
        description="With ?wait=: the order as projected once the wait was met (null: not projected in time).",
    )
    pending_projection: bool | None = Field(
        default=None,
        description="With ?wait=: true when the wait timed out before the projection reached it; absent otherwise.",
    )


class OrderCommandAccepted(CommandAccepted):
    order_id: str


class KillSwitchAccepted(CommandAccepted):
    scope: KillSwitchScope
    target: str | None
    active: bool


# -- queries ------------------------------------------------------------------------------------------------
class RiskLimitsPublic(BaseModel):
    account: str
    source: Literal["configured", "default"] = Field(
        description="configured: the latest RiskLimits on risk.limits; default: none set yet"
    )
    updated_at: datetime | None = None
    allowed_symbols: list[str]
    max_order_quantity: str
    max_order_notional: str
    max_position_quantity: str
    max_open_orders: int
    orders_per_second: int
    order_burst: int
    price_collar_bps: int
    daily_loss_limit: str
    reference_prices: dict[str, str]


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last page.")


class Problem(BaseModel):
    """An error answer (4xx) other than a validation error."""

    detail: str
    reason: str | None = Field(None, description="A machine-readable reason, e.g. INVALID_TRANSITION.")
    extra: dict[str, Any] | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class ProjectionLagPublic(BaseModel):
    name: str
    lag_records: int = Field(description="offsets of the input topics not yet applied")
    lag_ms: int | None = Field(
        description="0 when caught up; when behind, ms since the newest applied record's broker timestamp "
        "(null: nothing applied yet)"
    )


class HealthDetail(Health):
    projections: list[ProjectionLagPublic] = Field(default_factory=list)


class OrderPublic(BaseModel):
    """An order as the projection shows it after its latest event."""

    order_id: str
    client_order_id: str
    account: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    status: str
    version: int
    quantity: str
    price: str | None
    stop_price: str | None
    cum_quantity: str
    leaves_quantity: str
    avg_price: str | None
    post_only: bool
    reduce_only: bool
    expire_time: datetime | None
    venue: str | None
    parent_order_id: str | None
    last_event_type: str
    last_reason: str | None = Field(description="The latest reject reason the order met, e.g. PRICE_COLLAR.")
    last_detail: str
    created_time: datetime
    updated_time: datetime
    event_count: int


class OrderEventPublic(BaseModel):
    """One transition of an order (an OrderEvent of orders.events)."""

    event_id: str
    sequence: int | None = Field(None, description="1, 2, … in the order's history; null on the live stream.")
    order_id: str
    client_order_id: str
    account: str
    symbol: str
    side: str
    type: str
    event_type: str
    status: str
    version: int
    quantity: str
    price: str | None
    stop_price: str | None
    cum_quantity: str
    leaves_quantity: str
    avg_price: str | None
    last_quantity: str
    last_price: str | None
    fee: str
    fill_id: str | None
    liquidity: str | None
    reject_reason: str | None
    detail: str
    command_id: str | None
    event_time: datetime


class FillPublic(BaseModel):
    order_id: str
    fill_id: str
    account: str
    symbol: str
    side: str | None
    quantity: str
    price: str
    fee: str
    liquidity: str | None
    venue: str | None
    time: datetime


class BookTopPublic(BaseModel):
    """A top of book as md.book.top carries it (a stream's ``book_tops`` channel)."""

    venue: str
    symbol: str
    sequence: int
    bid_price: str | None
    bid_quantity: str | None
    ask_price: str | None
    ask_quantity: str | None
    bids: list[list[str]] = Field(description="Best bid levels, best first: [price, quantity].")
    asks: list[list[str]] = Field(description="Best ask levels, best first: [price, quantity].")
    stale: bool
    time: datetime


class StreamMessage(BaseModel):
    """One message of ``GET /v1/stream``: where the record is in the log, and the record as an answer."""

    channel: Literal["orders", "fills", "positions", "book_tops"]
    topic: str = Field(description="The logical topic the record was read from.")
    partition: int
    offset: int
    data: OrderEventPublic | PositionPublic | BookTopPublic


class PositionPublic(BaseModel):
    account: str
    symbol: str
    quantity: str = Field(description="Signed: negative is short.")
    avg_price: str | None
    realized_pnl: str
    unrealized_pnl: str
    fees: str
    cash: str
    mark_price: str | None
    fill_count: int
    last_fill_id: str | None
    version: int
    updated_time: datetime
