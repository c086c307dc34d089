"""The cores the runtime knows, by name; cores are imported only when run."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial

from processors.core import Core
from processors.runtime.pipeline import StageSpec, stage_spec
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import stage_group

PROCESSORS: dict[str, str] = {
    "risk": "processors.risk.core:RiskCore",
    "oms": "processors.oms.core:OmsCore",
    "router": "processors.router.core:RouterCore",
    "venue": "processors.venue.core:VenueCore",
    "portfolio": "processors.portfolio.core:PortfolioCore",
    "orderbook": "processors.orderbook.core:OrderBookCore",
}


def core_class(name: str) -> type[Core]:
    try:
        module_name, class_name = PROCESSORS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}") from None
    cls: type[Core] = getattr(importlib.import_module(module_name), class_name)
    return cls


def new_core(name: str) -> Core:
    return core_class(name)()


def core_factory(name: str, settings: Settings | None = None) -> Callable[[], Core]:
    """What makes the core ``name``: its class, or with the configuration ``settings`` gives it (the venue core
    and the router's SMART with the named venues of ``SQ_VENUES``)."""
    if name == "venue" and settings is not None and settings.venues:
        from processors.venue.config import venue_config
        from processors.venue.core import VenueCore

        return partial(VenueCore, venue_config(settings.venues))
    if name == "router" and settings is not None and settings.venues:
        from processors.router.core import RouterCore

        return partial(RouterCore, settings.venues)
    return core_class(name)


def stage_factories(stage: StageSpec | str, settings: Settings | None = None) -> list[Callable[[], Core]]:
    """What makes each core of a stage's pipeline, in pipeline order (configured from ``settings`` if given)."""
    spec = stage_spec(stage) if isinstance(stage, str) else stage
    return [core_factory(name, settings) for name in spec.cores]


def consumer_group(settings: Settings, engine: str, stage: str) -> str:
    """The consumer group a stage's workers commit their input offsets in, on each engine."""
    return physical_name(settings, stage_group(stage) if engine == "kafka" else f"sq.faust.{stage}")
