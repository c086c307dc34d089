"""A small bounded pool of psycopg 3 connections (psycopg_pool is not a dependency of the project).

Connections are autocommit: the API only reads the projections and writes single rows (API keys), so a
transaction left open by a failed request can never hold locks the projection sink needs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

Connection = psycopg.Connection[Any]


class PoolTimeout(RuntimeError):
    """No connection became free in time (HTTP 503)."""


class ConnectionPool:
    def __init__(self, conninfo: str, size: int, connect_timeout_s: float = 5.0) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self.conninfo = conninfo
        self.size = size
        self.connect_timeout_s = connect_timeout_s
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)  # open + lent connections never exceed `size`
        self._closed = False

    @contextmanager
    def connection(self, timeout_s: float = 5.0) -> Iterator[Connection]:
        if self._closed:
            raise PoolTimeout("the connection pool is closed")
        if not self._slots.acquire(timeout=timeout_s):
            raise PoolTimeout(f"no database connection free within {timeout_s} s")
        conn: Connection | None = None
        try:
            conn = self._take()
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _take(self) -> Connection:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=int(self.connect_timeout_s))
            if not conn.closed and not conn.broken:
                return conn

    def _give_back(self, conn: Connection) -> None:
        if self._closed or conn.closed or conn.broken:
            conn.close()
            return
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()  # a failed statement inside an explicit transaction: do not lend it out again
            return
        self._idle.put(conn)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
