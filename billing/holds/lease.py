"""Wallet leases: a worker holds a slice of a wallet in one statement and carves requests' holds from it in
memory, so an admitted request makes no database round trip before its upstream call, and a busy wallet's row
is written once per lease instead of once per request (the hot wallet).

Money stays exact because a lease is an open hold (lease_sql.py): the wallet's free balance excludes it, a carve
is the request's worst case (what its own hold would be), and each request still settles in its own statement,
which moves its carve out of the lease and writes the request's hold row closed. What can go wrong:
- The worker dies: its leases are no longer touched and the sweeper releases them once they expire
  (HARNMODEL_WALLET_LEASE_TTL_SECONDS), as it releases a dead worker's own holds; its requests in flight are
  not charged (no trustworthy usage), exactly as before.
- A request outlives its lease (swept while the worker was stalled): it is charged unheld, under the
  overdraft rule (orm.settle_leased), as a request that outlives its own hold is.
- A settle fails: its carve stays in the lease and goes back when the lease is released, as a failed
  settle's hold goes back with the sweeper.
- The lease statement's connection dies after a commit: the lease is unknown here, never touched, swept.
Bounds: one live lease per account and event loop; a lease is taken only while it is at most
HARNMODEL_WALLET_LEASE_SHARE_PERCENT of the wallet's free balance (small wallets hold per request, as before);
a carve is at most a quarter of a lease (a bigger request holds its own). A lease goes back when it is used
up and its last carve settled, after HARNMODEL_WALLET_LEASE_IDLE_SECONDS unused, and at shutdown.
"""

import asyncio
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from . import aio, lease_sql

log = logging.getLogger("harnmodel.billing")

MIN_CARVES = 4  # a lease serves at least this many requests: a bigger request holds its own
REFUSED_SECONDS = 1.0  # a wallet that could not lease is not asked again for this long (its requests hold their own)
MAX_REFUSED = 4096  # accounts remembered as refused (expired ones are forgotten first)


@dataclass(slots=True, eq=False)
class Lease:
    account_id: int
    lease_id: str  # the request_id of the lease's own hold row
    remaining: int  # micros not yet carved
    used_at: float
    carves: int = 0  # carved and not yet settled
    retired: bool = False  # no more carves; released when its last carve settles


@dataclass(frozen=True, slots=True)
class Carve:
    lease: Lease
    amount: int
    hold_id: str  # the id the request's hold row gets when it settles


class Leases:
    """One event loop's leases (like aio's connection pool, per loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.live: dict[int, Lease] = {}  # account → the lease carves come from
        self.held: dict[str, Lease] = {}  # every lease not yet released, live or retired
        self.carved: dict[str, Carve] = {}  # request_id → its carve, until it settles
        self.taking: dict[int, asyncio.Task] = {}
        self.refused: dict[int, float] = {}
        self.keeper: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()

    # -- requests --------------------------------------------------------------------------------------
    async def carve(self, account_id: int, request_id: str, amount: int) -> Carve | None:
        """A carve of `amount` for a request, or None: the request holds its own."""
        size = settings.HARNMODEL_WALLET_LEASE_MICROS
        if size <= 0 or amount <= 0 or amount * MIN_CARVES > size:
            return None
        lease = self.live.get(account_id)
        if lease is None or lease.remaining < amount:
            if lease is not None:
                self._retire(lease)
            lease = await self._take(account_id, size)
            if lease is None or lease.retired or lease.remaining < amount:
                return None
        lease.remaining -= amount
        lease.carves += 1
        lease.used_at = self.loop.time()
        carve = Carve(lease, amount, str(uuid.uuid4()))
        self.carved[request_id] = carve
        return carve

    def claim(self, request_id: str) -> Carve | None:
        """The request's carve, taken out of the book as its settlement starts (pair with `settled`)."""
        return self.carved.pop(request_id, None)

    def settled(self, carve: Carve) -> None:
        lease = carve.lease
        lease.carves -= 1
        if lease.retired and lease.carves == 0:
            self._release_later(lease)

    # -- taking and giving back ------------------------------------------------------------------------
    async def _take(self, account_id: int, size: int) -> Lease | None:
        if self.refused.get(account_id, 0.0) > self.loop.time():
            return None
        task = self.taking.get(account_id)
        if task is None:  # concurrent requests of one account share one statement
            task = self.loop.create_task(self._take_now(account_id, size))
            self.taking[account_id] = task
            task.add_done_callback(lambda done: self._taken(account_id, done))
        # shielded: a cancelled request must not leave a lease taken in the database and unknown here
        return await asyncio.shield(task)

    def _taken(self, account_id: int, task: asyncio.Task) -> None:
        if self.taking.get(account_id) is task:
            del self.taking[account_id]

    async def _take_now(self, account_id: int, size: int) -> Lease | None:
        lease_id = "lease_" + secrets.token_hex(16)
        params = lease_sql.take_params(
            account_id=account_id,
            lease_id=lease_id,
            amount=size,
            floor=size * 100 // settings.HARNMODEL_WALLET_LEASE_SHARE_PERCENT,
            ttl_seconds=settings.HARNMODEL_WALLET_LEASE_TTL_SECONDS,
        )
        row = await aio.fetch("lease", lease_id, account_id, lease_sql.take_sql(), params)
        if row is None:
            self._refuse(account_id)
            return None
        lease = Lease(account_id, lease_id, remaining=size, used_at=self.loop.time())
        old = self.live.get(account_id)
        if old is not None:
            self._retire(old)
        self.live[account_id] = lease
        self.held[lease_id] = lease
        self._keep()
        return lease

    def _refuse(self, account_id: int) -> None:
        now = self.loop.time()
        if len(self.refused) >= MAX_REFUSED:
            self.refused = {a: t for a, t in self.refused.items() if t > now}
            if len(self.refused) >= MAX_REFUSED:
                self.refused.clear()
        self.refused[account_id] = now + REFUSED_SECONDS

    def _retire(self, lease: Lease) -> None:
        if lease.retired:
            return
        lease.retired = True
        if self.live.get(lease.account_id) is lease:
            del self.live[lease.account_id]
        if lease.carves == 0:
            self._release_later(lease)

    def _release_later(self, lease: Lease) -> None:
        task = self.loop.create_task(self._release(lease))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _release(self, lease: Lease) -> None:
        # What goes back is read from the lease's row: whatever settled or failed meanwhile, it is exact. A release
        # that fails leaves the lease untouched from now on: it expires and the sweeper gives it back.
        try:
            await aio.fetch("lease_release", lease.lease_id, lease.account_id, lease_sql.release_sql(),
                            {"lease": lease.lease_id, "account": lease.account_id})
        except Exception:
            log.warning("giving a wallet lease back failed; it expires instead", exc_info=True)
        finally:
            self.held.pop(lease.lease_id, None)

    async def release_all(self) -> None:
        """Shutdown: give back every lease without carves in flight (the others go back as they settle)."""
        for lease in list(self.live.values()):
            self._retire(lease)
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- keeping leases alive --------------------------------------------------------------------------
    def _keep(self) -> None:
        if self.keeper is None or self.keeper.done():
            self.keeper = self.loop.create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        """Touch held leases (a third of their TTL) and give back idle ones, while any is held."""
        idle = settings.HARNMODEL_WALLET_LEASE_IDLE_SECONDS
        ttl = settings.HARNMODEL_WALLET_LEASE_TTL_SECONDS
        tick = max(0.05, min(idle, ttl / 3) / 2)
        touched = self.loop.time()
        while self.held:
            await asyncio.sleep(tick)
            now = self.loop.time()
            for lease in list(self.live.values()):
                if lease.carves == 0 and now - lease.used_at >= idle:
                    self._retire(lease)
            if now - touched >= ttl / 3:
                touched = now
                await self._touch(ttl)

    async def _touch(self, ttl: int) -> None:
        for lease in list(self.held.values()):
            params = {"lease": lease.lease_id, "ttl": timedelta(seconds=ttl), "account": lease.account_id}
            try:
                row = await aio.fetch("lease_touch", lease.lease_id, lease.account_id, lease_sql.touch_sql(), params)
            except Exception:  # a failed touch is tried again at the next tick; the lease lives a full TTL
                log.warning("lease touch failed", exc_info=True)
                continue
            if row is None:  # swept (or unreadable): carve no more from it
                self._retire(lease)


_leases: Leases | None = None


def current() -> Leases:
    global _leases
    if _leases is None or _leases.loop is not asyncio.get_running_loop():
        _leases = Leases()
    return _leases


async def release_all() -> None:
    """Shutdown: this loop's idle leases go back now instead of expiring (see Leases.release_all)."""
    if _leases is not None and _leases.loop is asyncio.get_running_loop():
        await _leases.release_all()


def is_carved(request_id: str) -> bool:
    """Whether a request of this loop is carved from a lease (its lease, not its own row, is kept alive)."""
    return _leases is not None and request_id in _leases.carved
