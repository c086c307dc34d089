"""What the order vocabulary of the schemas means to every reader of orders: the statuses that end an order and
the event types that report a fill. The one home of these sets (the OMS, risk, the portfolio, the API and
`sq verify` read them here)."""

from __future__ import annotations

from typing import Final

# shrivenquant.orders.OrderStatus symbols after which an order takes no more events.
TERMINAL_STATUSES: Final = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED"})
# shrivenquant.orders.OrderEventType symbols that may carry a fill (a positive last_quantity).
FILL_EVENT_TYPES: Final = frozenset({"PARTIALLY_FILLED", "FILLED"})
