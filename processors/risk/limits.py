"""Risk limits: the defaults for accounts without a ``RiskLimits`` record, and the circuit-breaker parameters.

An account's limits come from its latest ``RiskLimits`` record on ``risk.limits``. Until one arrives the
account trades under ``DEFAULT_LIMITS``: generous enough never to get in the way of a normal strategy, but
finite, so that a runaway one (a loop sending orders, a fat-fingered quantity) is still stopped:

==========================  =============================================
max_order_quantity          1,000 units per order
max_order_notional          10,000,000 (cash) per order
max_position_quantity       10,000 units per symbol, working orders included
max_open_orders             200 working orders
orders_per_second           1,000 per second sustained (token bucket refill)
order_burst                 2,000 (token bucket size)
price_collar_bps            1,000 bps (10 %) from the reference price
daily_loss_limit            1,000,000 (cash) of realized loss per UTC day
allowed_symbols             empty = every symbol
reference_prices            none
==========================  =============================================

The circuit breaker trips an account after ``breaker_trip_count`` denials or venue rejects within
``breaker_window_us`` of event time (default: 20 in 10 s) and halts it for ``breaker_cool_down_us``
(default: 30 s); the first command after the cool-down resets it.

``RiskConfig`` bundles both and is what ``RiskCore`` takes in its constructor, so tests and deployment
configuration can override any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from schemas.scales import CASH_SCALE, QUANTITY_SCALE

SECOND_US: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """One account's limits, with the fields (and fixed-point scales) of a ``RiskLimits`` record."""

    max_order_quantity: int = 1_000 * QUANTITY_SCALE
    max_order_notional: int = 10_000_000 * CASH_SCALE
    max_position_quantity: int = 10_000 * QUANTITY_SCALE
    max_open_orders: int = 200
    orders_per_second: int = 1_000
    order_burst: int = 2_000
    price_collar_bps: int = 1_000
    daily_loss_limit: int = 1_000_000 * CASH_SCALE
    allowed_symbols: tuple[str, ...] = ()  # empty = all symbols
    reference_prices: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def as_record(self) -> dict[str, Any]:
        """The limits as the plain dict the core works with (the RiskLimits fields without meta and account)."""
        return {
            "allowed_symbols": list(self.allowed_symbols),
            "max_order_quantity": self.max_order_quantity,
            "max_order_notional": self.max_order_notional,
            "max_position_quantity": self.max_position_quantity,
            "max_open_orders": self.max_open_orders,
            "orders_per_second": self.orders_per_second,
            "order_burst": self.order_burst,
            "price_collar_bps": self.price_collar_bps,
            "daily_loss_limit": self.daily_loss_limit,
            "reference_prices": dict(self.reference_prices),
        }


LIMIT_FIELDS: Final = tuple(AccountLimits().as_record())

DEFAULT_LIMITS: Final = AccountLimits()


def limits_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The core's limits dict from a ``RiskLimits`` record (meta and account dropped, lists/dicts copied)."""
    limits = {name: record[name] for name in LIMIT_FIELDS if name != "reference_prices"}
    limits["allowed_symbols"] = list(record["allowed_symbols"])
    limits["reference_prices"] = dict(record.get("reference_prices") or {})
    return limits


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Everything ``RiskCore`` is configured with; the defaults are the documented production defaults."""

    default_limits: AccountLimits = DEFAULT_LIMITS
    breaker_trip_count: int = 20  # denials or venue rejects ...
    breaker_window_us: int = 10 * SECOND_US  # ... within this much event time trip the account's breaker
    breaker_cool_down_us: int = 30 * SECOND_US  # how long a tripped breaker halts the account

    def __post_init__(self) -> None:
        if self.breaker_trip_count < 1 or self.breaker_window_us < 1 or self.breaker_cool_down_us < 0:
            raise ValueError(f"invalid circuit breaker parameters: {self}")


DEFAULT_CONFIG: Final = RiskConfig()
