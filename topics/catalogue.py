"""Every topic the pipeline uses, once.

Keys are chosen for ordering: everything about one account lives in one partition of the account-keyed
topics (which therefore share one partition count, so a processor reading several of them sees one
account's events on the same partition number), everything about one symbol likewise.
Audit topics (commands, decisions, order events, venue traffic, control, dead letters) keep everything:
the log is the audit trail and the replay source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.names import (
    AMEND_ORDER,
    BOOK_TOP,
    CANCEL_ORDER,
    CIRCUIT_BREAKER,
    CLOCK_TICK,
    DEAD_LETTER,
    DEPTH_SNAPSHOT,
    DEPTH_UPDATE,
    EXECUTION_REPORT,
    FEED_STATUS,
    KILL_SWITCH,
    MARKET_ANALYTICS,
    NEW_ORDER,
    ORDER_EVENT,
    POSITION,
    RISK_DECISION,
    TRADE,
    TRADING_STATE_SET,
    VENUE_ORDER,
)
from schemas.names import (
    RISK_LIMITS as RISK_LIMITS_SCHEMA,
)
from settings import catalogue_partitions

# A deployment's choice (settings: SQ_ACCOUNT_PARTITIONS, SQ_SYMBOL_PARTITIONS), the same in all its processes.
ACCOUNT_PARTITIONS, SYMBOL_PARTITIONS = catalogue_partitions()
FOREVER = -1
WEEK_MS = 7 * 24 * 3600 * 1000

CleanupPolicy = Literal["delete", "compact"]

# Who writes a topic: the processors' cores by name, and UPSTREAM for everything outside them (the API,
# feeds, flows, operators). A pipeline hands a topic from core to core in process only when its cores are
# all of its writers (processors.runtime.pipeline); any other writer means it must be read from Kafka.
UPSTREAM = "upstream"

# Logical topic names: import these, never spell a topic name elsewhere.
MD_TRADES = "md.trades"
MD_DEPTH = "md.depth"
MD_BOOK_TOP = "md.book.top"
MD_ANALYTICS = "md.analytics"
MD_FEED_STATUS = "md.feed.status"
ORDERS_COMMANDS = "orders.commands"
RISK_DECISIONS = "risk.decisions"
RISK_LIMITS = "risk.limits"
CONTROL_EVENTS = "control.events"
ORDERS_EVENTS = "orders.events"
VENUE_ORDERS = "venue.orders"
VENUE_EXECUTIONS = "venue.executions"
PORTFOLIO_POSITIONS = "portfolio.positions"
DEAD_LETTERS = "ops.deadletters"
ORDERS_CHILD_COMMANDS = "orders.child_commands"
CLOCK_TICKS = "clock.ticks"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str  # what the record key holds
    value_schemas: tuple[str, ...]  # Avro full names a record's value may be written with
    partitions: int
    cleanup_policy: CleanupPolicy
    retention_ms: int
    description: str
    key_field: str | None = None  # the record field every record's key must equal (None: a composed key)
    written_by: tuple[str, ...] = (UPSTREAM,)

    def config(self) -> dict[str, str]:
        """The topic-level configs `sq topics create` sets and checks."""
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}


CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(
        MD_TRADES,
        "symbol",
        (TRADE,),
        SYMBOL_PARTITIONS,
        "delete",
        WEEK_MS,
        "Public trades from market data connectors.",
        key_field="symbol",
    ),
    TopicSpec(
        MD_DEPTH,
        "symbol",
        (DEPTH_UPDATE, DEPTH_SNAPSHOT),
        SYMBOL_PARTITIONS,
        "delete",
        WEEK_MS,
        "Order book snapshots and incremental depth updates.",
        key_field="symbol",
    ),
    TopicSpec(
        MD_BOOK_TOP,
        "symbol",
        (BOOK_TOP,),
        SYMBOL_PARTITIONS,
        "delete",
        WEEK_MS,
        "Top of book and depth-N view, published by the orderbook processor on change.",
        key_field="symbol",
        written_by=("orderbook",),
    ),
    TopicSpec(
        MD_ANALYTICS,
        "symbol",
        (MARKET_ANALYTICS,),
        SYMBOL_PARTITIONS,
        "delete",
        WEEK_MS,
        "Microstructure analytics on an event-time schedule.",
        key_field="symbol",
        written_by=("orderbook",),
    ),
    TopicSpec(
        MD_FEED_STATUS,
        "symbol",
        (FEED_STATUS,),
        SYMBOL_PARTITIONS,
        "delete",
        WEEK_MS,
        "Connector state: connects, stalls, gaps and resynchronisations.",
        key_field="symbol",
        written_by=(UPSTREAM, "orderbook"),
    ),
    TopicSpec(
        ORDERS_COMMANDS,
        "account",
        (NEW_ORDER, CANCEL_ORDER, AMEND_ORDER),
        ACCOUNT_PARTITIONS,
        "delete",
        FOREVER,
        "Order commands from upstream systems and the API.",
        key_field="account",
    ),
    TopicSpec(
        RISK_DECISIONS,
        "account",
        (RISK_DECISION,),
        ACCOUNT_PARTITIONS,
        "delete",
        FOREVER,
        "Pre-trade decisions with every check's values; the decided command travels along.",
        key_field="account",
        written_by=("risk",),
    ),
    TopicSpec(
        RISK_LIMITS,
        "account",
        (RISK_LIMITS_SCHEMA,),
        ACCOUNT_PARTITIONS,
        "compact",
        FOREVER,
        "Current risk limits per account (compacted: the latest per account survives).",
        key_field="account",
    ),
    TopicSpec(
        CONTROL_EVENTS,
        "scope",
        (
            KILL_SWITCH,
            CIRCUIT_BREAKER,
            TRADING_STATE_SET,
        ),
        1,
        "delete",
        FOREVER,
        "Kill switches, circuit breakers, trading states; one partition, read whole by every risk worker.",
        written_by=(UPSTREAM, "risk"),
    ),
    TopicSpec(
        ORDERS_EVENTS,
        "account",
        (ORDER_EVENT,),
        ACCOUNT_PARTITIONS,
        "delete",
        FOREVER,
        "The order lifecycle: every transition of every order (the audit trail).",
        key_field="account",
        written_by=("oms",),
    ),
    TopicSpec(
        VENUE_ORDERS,
        "symbol",
        (VENUE_ORDER,),
        SYMBOL_PARTITIONS,
        "delete",
        FOREVER,
        "Orders sent to venues (new, cancel, amend), each carrying its risk approval.",
        key_field="symbol",
        written_by=("oms",),
    ),
    TopicSpec(
        VENUE_EXECUTIONS,
        "account",
        (EXECUTION_REPORT,),
        ACCOUNT_PARTITIONS,
        "delete",
        FOREVER,
        "Venue acknowledgements, fills, cancels and rejects.",
        key_field="account",
        written_by=("venue",),
    ),
    TopicSpec(
        PORTFOLIO_POSITIONS,
        "account|symbol",
        (POSITION,),
        ACCOUNT_PARTITIONS,
        "compact",
        FOREVER,
        "Positions and PnL per account and symbol (compacted: latest per position).",
        written_by=("portfolio",),
    ),
    TopicSpec(
        DEAD_LETTERS,
        "source topic",
        (DEAD_LETTER,),
        1,
        "delete",
        FOREVER,
        "Records no stage could use, with the reason; nothing bad is dropped silently.",
        written_by=(UPSTREAM, "risk", "oms", "venue", "portfolio", "orderbook"),
    ),
    TopicSpec(
        ORDERS_CHILD_COMMANDS,
        "account",
        (NEW_ORDER, CANCEL_ORDER),
        ACCOUNT_PARTITIONS,
        "delete",
        FOREVER,
        "Child orders and their cancels from the execution algorithms (router); risk decides them like any order.",
        key_field="account",
        written_by=("router",),
    ),
    TopicSpec(
        CLOCK_TICKS,
        "source",
        (CLOCK_TICK,),
        1,
        "delete",
        WEEK_MS,
        "Event-time ticks (the ticker service, a backtest): how time reaches the execution algorithms.",
    ),
)

_BY_NAME = {spec.name: spec for spec in CATALOGUE}


def spec_for(name: str) -> TopicSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the topic catalogue; known: {', '.join(_BY_NAME)}") from None


# The runtime's own topics, named here like every other topic: a compacted changelog per core (its keyed
# state, one record per state key, partitioned like the core's keyed inputs); per stage, a compacted checkpoint
# topic (broadcast snapshots: what its cores derived from broadcast inputs, with the positions it reflects; and
# an exclusive stage's input positions) and the one-partition lease topic an exclusive stage's workers elect
# their active worker with.
CHANGELOG_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
CHECKPOINT_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "max.message.bytes": "16777216"}


def changelog_topic(core: str) -> str:
    return f"sq.{core}.changelog"


def checkpoint_topic(stage: str) -> str:
    return f"sq.{stage}.checkpoints"


def lease_topic(stage: str) -> str:
    return f"sq.{stage}.lease"


def stage_group(stage: str) -> str:
    """The consumer group a stage's workers commit their input offsets in (and name their transactions after)."""
    return f"sq.{stage}"
