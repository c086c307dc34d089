"""The processors `sq run` knows, by name; cores are imported only when run."""

from __future__ import annotations

import importlib

from processors.core import Core
from settings import Settings
from topics.admin import physical_name

PROCESSORS: dict[str, str] = {
    "risk": "processors.risk.core:RiskCore",
    "oms": "processors.oms.core:OmsCore",
    "venue": "processors.venue.core:VenueCore",
    "portfolio": "processors.portfolio.core:PortfolioCore",
    "orderbook": "processors.orderbook.core:OrderBookCore",
}

ORDER_PATH = ("risk", "oms", "venue", "portfolio")


def core_class(name: str) -> type[Core]:
    try:
        module_name, class_name = PROCESSORS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}") from None
    cls: type[Core] = getattr(importlib.import_module(module_name), class_name)
    return cls


def new_core(name: str) -> Core:
    return core_class(name)()


def consumer_group(settings: Settings, engine: str, processor: str) -> str:
    """The consumer group a processor's workers commit their input offsets in, on each engine."""
    return physical_name(settings, f"sq.{processor}" if engine == "kafka" else f"sq.faust.{processor}")
