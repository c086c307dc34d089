"""Read-your-writes: an order whose command this API produced is never "not found" to the same API.

The API remembers, per order id, the latest command it produced about that order (its event id and its
place in orders.commands, from the delivery report). A read, cancel or amend of such an order first waits,
bounded, for the projection to hold that command's answer: the OrderEvent whose ``command_id`` is the
command's event id (the OMS names the command every answer is for).

Why poll for the answer rather than compare offsets: the sink records the offsets it consumed
(``projection_offsets``, written in the same transaction as the rows), but those are offsets of
orders.events, and the API knows only its command's offset on orders.commands; which orders.events offset
holds the answer is decided later by the OMS. The answer's row, looked up by the command's id, is the one
fact that is both exact and cheap to ask (an index scan of the order's few events).

The memory is per API process and bounded (the oldest entries go first); an entry is dropped once its
answer has been seen, so it holds the commands in flight. A command another process (or an earlier run of
this one) produced is not known here: its order is a 404 until projected, as before.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from starlette.concurrency import run_in_threadpool

from api.db import Connection
from connectors.postgres.read_models import CommandOutcome, command_outcome
from schemas.statuses import TERMINAL_STATUSES

MAX_TRACKED: Final = 100_000  # commands in flight remembered; ~200 bytes each
FIRST_POLL_S: Final = 0.002
MAX_POLL_S: Final = 0.025  # the sink commits a batch every few ms to tens of ms: poll at about that pace
DUPLICATE_REJECTED: Final = "DUPLICATE_REJECTED"


@dataclass(frozen=True, slots=True)
class ProducedCommand:
    """A command this API wrote about an order, and where the broker put it."""

    order_id: str
    account: str
    schema: str  # NewOrder, CancelOrder, AmendOrder (full Avro name)
    command_id: str  # its event id: the ``command_id`` of the OrderEvent that answers it
    topic: str
    partition: int
    offset: int

    def known(self) -> dict[str, object]:
        """What the API can tell of the command while its answer is not projected."""
        return {
            "order_id": self.order_id,
            "command": self.schema.rsplit(".", 1)[-1],
            "command_id": self.command_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }


class ProducedCommands:
    """The latest command produced per order id (thread-safe, least recently produced dropped first)."""

    def __init__(self, capacity: int = MAX_TRACKED) -> None:
        self.capacity = capacity
        self._latest: OrderedDict[str, ProducedCommand] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, command: ProducedCommand) -> None:
        with self._lock:
            self._latest[command.order_id] = command
            self._latest.move_to_end(command.order_id)
            while len(self._latest) > self.capacity:
                self._latest.popitem(last=False)

    def get(self, order_id: str) -> ProducedCommand | None:
        with self._lock:
            return self._latest.get(order_id)

    def settled(self, command: ProducedCommand) -> None:
        """The command's answer is projected: forget it, unless a later command about the order replaced it."""
        with self._lock:
            if self._latest.get(command.order_id) == command:
                del self._latest[command.order_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._latest)


class Until(StrEnum):
    """How far a wait goes: the command's answer (for a NewOrder, risk's decision: PENDING_NEW, DENIED,
    REJECTED, DUPLICATE_REJECTED), or for a NewOrder, the venue's acknowledgement (or the order's end)."""

    DECISION = "decision"
    ACCEPTED = "accepted"


def reached(outcome: CommandOutcome | None, until: Until) -> bool:
    if outcome is None:
        return False
    if until is Until.DECISION or outcome.event_type == DUPLICATE_REJECTED:
        return True  # a duplicate's answer is final: nothing more comes for that command
    return outcome.venue_accepted or outcome.order is None or outcome.order.status in TERMINAL_STATUSES


def _look(
    connection: Callable[[], AbstractContextManager[Connection]], produced: ProducedCommands, command: ProducedCommand
) -> CommandOutcome | None:
    """One poll: the command's answer if projected (then the command is forgotten)."""
    with connection() as conn:
        outcome = command_outcome(conn, command.order_id, command.command_id)
    if outcome is not None:
        produced.settled(command)
    return outcome


def _pauses(timeout_s: float) -> Iterator[float]:
    """The waits between polls, doubling from FIRST_POLL_S to MAX_POLL_S, until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    pause = FIRST_POLL_S
    while (left := deadline - time.monotonic()) > 0:
        yield min(pause, left)
        pause = min(pause * 2, MAX_POLL_S)


def await_outcome(
    connection: Callable[[], AbstractContextManager[Connection]],
    produced: ProducedCommands,
    command: ProducedCommand,
    until: Until,
    timeout_s: float,
) -> CommandOutcome | None:
    """Polls the projection until ``until`` holds for ``command``; the last outcome seen (None: no answer yet).

    ``connection`` lends a database connection for one poll: none is held while sleeping, so waiting requests
    do not starve the pool the other requests need.
    """
    outcome = _look(connection, produced, command)
    for pause in _pauses(timeout_s):
        if reached(outcome, until):
            break
        time.sleep(pause)
        outcome = _look(connection, produced, command)
    return outcome


async def await_outcome_async(
    connection: Callable[[], AbstractContextManager[Connection]],
    produced: ProducedCommands,
    command: ProducedCommand,
    until: Until,
    timeout_s: float,
) -> CommandOutcome | None:
    """``await_outcome`` on the event loop: each poll on a worker thread, the pauses between them on the loop,
    so a waiting request holds no thread (at 200 orders/s, reads waiting for the sink outnumber anyio's 40)."""
    outcome = await run_in_threadpool(_look, connection, produced, command)
    for pause in _pauses(timeout_s):
        if reached(outcome, until):
            break
        await asyncio.sleep(pause)
        outcome = await run_in_threadpool(_look, connection, produced, command)
    return outcome
