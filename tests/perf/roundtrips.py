"""Counting what this process sends to PostgreSQL and Redis: one entry per round trip.

Installed on the client libraries themselves, so every path counts the same: Django's ORM (psycopg
cursors on the relay's DB threads), the event loop's own psycopg connections (billing/holds/aio.py),
and redis-py's sync and asyncio connections (a pipeline or a script is one write: one round trip).
PostgreSQL round trips: each execute; the BEGIN psycopg sends before the first statement of a
transaction; COMMIT / ROLLBACK when a transaction is open; and a new connection (counted apart, as
"connect": steady state opens none).
"""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg.pq import TransactionStatus
from redis import connection as redis_sync
from redis.asyncio import connection as redis_async


@dataclass
class Trips:
    postgres: list[str] = field(default_factory=list)  # the first words of each statement, BEGIN, COMMIT, …
    redis: list[str] = field(default_factory=list)  # the command name of each write (a pipeline: its first)
    connects: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, what: str) -> None:
        with self.lock:
            getattr(self, kind).append(what)

    def clear(self) -> None:
        with self.lock:
            self.postgres.clear()
            self.redis.clear()
            self.connects.clear()

    def summary(self) -> dict:
        return {"postgres": len(self.postgres), "redis": len(self.redis), "connects": len(self.connects),
                "postgres_sent": list(self.postgres), "redis_sent": list(self.redis)}


def _label(query: object) -> str:
    text = query.decode() if isinstance(query, bytes) else str(query)
    return " ".join(text.split())[:60]


def _redis_label(command: object) -> str:
    if isinstance(command, (list, tuple)):
        command = b"".join(c if isinstance(c, bytes) else bytes(c) for c in command[:1])
    head = bytes(command)[:80].split(b"\r\n")
    return head[2].decode(errors="replace") if len(head) > 2 else "?"


@contextlib.contextmanager
def counting() -> Iterator[Trips]:
    """Count round trips from every thread and event loop of this process while the block runs."""
    trips = Trips()
    originals: list[tuple[type, str, object]] = []

    def patch(cls: type, name: str, make) -> None:
        original = cls.__dict__[name]
        originals.append((cls, name, original))
        setattr(cls, name, make(original))

    def began(conn) -> None:
        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            trips.add("postgres", "BEGIN")

    def sync_execute(original):
        def execute(self, query, *args, **kwargs):
            began(self.connection)
            trips.add("postgres", _label(query))
            return original(self, query, *args, **kwargs)
        return execute

    def async_execute(original):
        async def execute(self, query, *args, **kwargs):
            began(self.connection)
            trips.add("postgres", _label(query))
            return await original(self, query, *args, **kwargs)
        return execute

    def sync_end(word: str):
        def make(original):
            def end(self):
                if self.info.transaction_status != TransactionStatus.IDLE:
                    trips.add("postgres", word)
                return original(self)
            return end
        return make

    def async_end(word: str):
        def make(original):
            async def end(self):
                if self.info.transaction_status != TransactionStatus.IDLE:
                    trips.add("postgres", word)
                return await original(self)
            return end
        return make

    def connect(kind: str):
        def make(original):
            bound = original.__func__

            def connect(cls, *args, **kwargs):
                trips.add("connects", kind)
                return bound(cls, *args, **kwargs)
            return classmethod(connect)
        return make

    def redis_send(original, is_async: bool):
        if is_async:
            async def send(self, command, *args, **kwargs):
                trips.add("redis", _redis_label(command))
                return await original(self, command, *args, **kwargs)
            return send

        def send_sync(self, command, *args, **kwargs):
            trips.add("redis", _redis_label(command))
            return original(self, command, *args, **kwargs)
        return send_sync

    for name in ("execute", "executemany"):
        patch(psycopg.Cursor, name, sync_execute)
        patch(psycopg.AsyncCursor, name, async_execute)
    for name, word in (("commit", "COMMIT"), ("rollback", "ROLLBACK")):
        patch(psycopg.Connection, name, sync_end(word))
        patch(psycopg.AsyncConnection, name, async_end(word))
    patch(psycopg.Connection, "connect", connect("postgres"))
    patch(psycopg.AsyncConnection, "connect", connect("postgres (event loop)"))
    patch(redis_sync.AbstractConnection, "send_packed_command", lambda o: redis_send(o, False))
    patch(redis_async.AbstractConnection, "send_packed_command", lambda o: redis_send(o, True))
    try:
        yield trips
    finally:
        for cls, name, original in reversed(originals):
            setattr(cls, name, original)
