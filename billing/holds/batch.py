"""Group commit: the money statements of concurrent requests share one round trip and one commit.

Every reserve and settle is still its own statement with its own parameters and its own answer (so every
rule stays in sql.py and the tiers behind it); what changes is the transport. Statements that arrive
while the loop's connections are busy wait together, and the next free connection sends them all in one
pipeline that ends in one Sync: one implicit transaction, one commit, one wake-up. Each caller's answer
is released only after that commit, so nothing is answered on a write that is not yet durable.

- Order: a batch runs its statements sorted by account, so two batches (two connections, two workers)
  take wallet rows in the same order and never deadlock; within an account, arrival order is kept.
- Isolation: one failed statement aborts its whole batch (nothing of it committed), so the batch is run
  again one statement at a time; each failure then reaches its own caller, exactly as without batching.
- Bounds: at most MAX_BATCH statements per batch; the rest wait for the next free connection.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import psycopg

MAX_BATCH = 64


@dataclass(slots=True)
class _Statement:
    order: int  # the account: batches lock wallets in one order
    query: str
    params: dict[str, Any]
    answer: asyncio.Future = field(repr=False)


class Batcher:
    """Queues statements for a connection pool (`checkout` / `checkin`, `slots`) of one event loop."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.waiting: list[_Statement] = []
        self.drainers = 0  # drainers created that have not yet taken their statements
        self.tasks: set[asyncio.Task] = set()
        self.round_trips = 0  # batches and lone statements sent (what a test or a benchmark can compare)
        self.busy = 0  # connections with a statement or a batch in flight

    async def fetch_one(self, order: int, query: str, params: dict[str, Any]) -> tuple | None:
        if self.busy == 0 and self.drainers == 0:
            return await self._inline(query, params)
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(_Statement(order, query, params, answer))
        if self.drainers == 0:
            self._start_drainer()
        return await answer

    async def _inline(self, query: str, params: dict[str, Any]) -> tuple | None:
        """Nothing in flight: nothing to share a round trip with, so no hop through a drainer task (what a
        quiet worker's latency would pay). Whatever arrives meanwhile gathers behind it as usual."""
        self.busy += 1
        await self.pool.slots.acquire()  # free: no statement is in flight
        try:
            return await self._alone(query, params)
        finally:
            self.pool.slots.release()
            self.busy -= 1

    def _start_drainer(self) -> None:
        self.drainers += 1
        task = asyncio.get_running_loop().create_task(self._drain())
        self.tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self.tasks.discard)

    async def _drain(self) -> None:
        try:
            await self.pool.slots.acquire()
        except BaseException:
            self.drainers -= 1
            self._fail(self.waiting, asyncio.CancelledError())
            self.waiting = []
            raise
        self.drainers -= 1
        self.busy += 1
        batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
        if self.waiting and self.drainers == 0:
            self._start_drainer()
        try:
            if batch:
                await self._run(batch)
        finally:
            self.busy -= 1
            self.pool.slots.release()

    async def _run(self, batch: list[_Statement]) -> None:
        batch.sort(key=lambda s: s.order)  # stable: arrival order within an account
        if len(batch) > 1:
            try:
                rows = await self._together(batch)
            except (psycopg.Error, OSError):
                rows = None  # nothing of the batch committed: each statement alone decides below
            except BaseException as exc:  # cancelled: every caller learns it
                self._fail(batch, exc)
                raise
            if rows is not None:
                for statement, row in zip(batch, rows, strict=True):
                    _answer(statement, row)
                return
        for index, statement in enumerate(batch):
            try:
                row = await self._alone(statement.query, statement.params)
            except BaseException as exc:
                _answer(statement, exc)
                if not isinstance(exc, Exception):
                    self._fail(batch[index + 1:], exc)
                    raise
            else:
                _answer(statement, row)

    async def _together(self, batch: list[_Statement]) -> list[tuple | None]:
        conn = await self.pool.checkout()
        ok = False
        self.round_trips += 1
        try:
            async with conn.pipeline() as pipeline:
                cursors = [await conn.execute(s.query, s.params) for s in batch]
                await pipeline.sync()  # one Sync: one implicit transaction, committed here
            rows = [await _row(cursor) for cursor in cursors]
            ok = True
            return rows
        finally:
            await self.pool.checkin(conn, ok)

    async def _alone(self, query: str, params: dict[str, Any]) -> tuple | None:
        conn = await self.pool.checkout()
        ok = False
        self.round_trips += 1
        try:
            cursor = await conn.execute(query, params)
            row = await _row(cursor)
            ok = True
            return row
        finally:
            await self.pool.checkin(conn, ok)

    @staticmethod
    def _fail(statements: list[_Statement], exc: BaseException) -> None:
        for statement in statements:
            _answer(statement, exc)


async def _row(cursor: psycopg.AsyncCursor) -> tuple | None:
    return await cursor.fetchone() if cursor.description is not None else None  # a plain INSERT: no rows


def _answer(statement: _Statement, outcome: Any) -> None:
    if statement.answer.done():  # its caller was cancelled meanwhile
        return
    if isinstance(outcome, asyncio.CancelledError):
        statement.answer.cancel()
    elif isinstance(outcome, BaseException):
        statement.answer.set_exception(outcome)
    else:
        statement.answer.set_result(outcome)
