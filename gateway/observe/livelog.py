"""The live request log's publisher: each settled request, as a small dict, to the console's websocket viewers.

The relay never waits for it. `publish` is a synchronous `put_nowait` into a bounded queue of this event loop
(a microsecond or two); one background task per loop drains it, adds account and channel names, and hands
batches of up to MAX_BATCH to the channel layer (Redis in production, in memory in embedded mode). A full
queue drops the new event and counts it (harnmodel_livelog_dropped_total): a slow or absent Redis costs
events, never latency.

Nobody watching is the normal case. Viewers announce themselves through the cache (`announce_watcher`); a
publish starts a read of that flag (a task of its own) at most every WATCH_POLL_SECONDS, and while the flag is off
`publish` returns at once and no drainer runs.

An event holds no secret and no content: ids, names, the key's display prefix, model, channel, status,
latency, token counts and cost in micros.
"""

import asyncio
import json
import logging
import time
from typing import Any

from django.apps import apps
from django.core.cache import cache
from prometheus_client import Counter

from billing.db import run_db
from gateway.observe import metrics
from gateway.pool.naming import served_credential
from gateway.wire.bounded import BoundedCache

log = logging.getLogger("harnmodel.livelog")

GROUP = "harnmodel.livelog"  # the channel-layer group every viewer joins
MESSAGE_TYPE = "livelog.batch"  # consumers handle it in `livelog_batch`; "events_json" is a JSON list of events
MAX_PENDING = 1000  # events waiting in one worker; beyond this they are dropped
MAX_BATCH = 100  # events per group_send: one layer round trip for a burst
WATCH_KEY = "harnmodel:livelog:watched"
WATCH_TTL_SECONDS = 30  # a viewer re-announces itself well within this
WATCH_POLL_SECONDS = 2.0  # how late another worker notices a new viewer
NAME_TTL_SECONDS = 60.0  # a renamed account or channel shows its new name within this
MAX_NAMES = 10_000
MAX_NAME_BYTES = 4 * 1024 * 1024

DROPPED = Counter(
    "harnmodel_livelog_dropped",
    "Live request log events not delivered: queue_full (viewers slower than traffic), no_loop (published "
    "outside an event loop) or send_failed (the channel layer refused them).",
    ["reason"],
    registry=metrics.REGISTRY,
)
_DROPPED_FULL = DROPPED.labels("queue_full")
_DROPPED_NO_LOOP = DROPPED.labels("no_loop")
_DROPPED_SEND = DROPPED.labels("send_failed")

Pending = tuple[float, Any, str, str, Any, int, bool]


class _Publisher:
    """This process's state: the loop its queue belongs to, the queue, the drainer, and the watched flag."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.watched = False
        self.announced_until = 0.0  # a viewer of this process announced itself until then (monotonic)
        self.next_poll = 0.0  # when a publish next asks the cache whether anyone watches (monotonic)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[Pending] | None = None
        self.task: asyncio.Task | None = None  # the drainer: runs only while someone watches
        self.poller: asyncio.Task | None = None
        # (kind, pk) → (expires, names); names are the operator's, but bound them like every cache.
        self.names = BoundedCache(MAX_NAMES, MAX_NAME_BYTES)

    def adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        # One queue per loop: a test runner gives every test its own loop, a server has one for its life.
        self.loop, self.queue, self.task, self.poller, self.next_poll = loop, asyncio.Queue(MAX_PENDING), None, None, 0.0


_pub = _Publisher()


def publish(
    facts: Any,
    *,
    request_id: str,
    key_prefix: str,
    usage: Any,
    cost_micros: int,
    estimated: bool = False,
) -> None:
    """Offer one settled request to the live log. Never raises, never blocks; `facts` is billing.RequestFacts."""
    loop = asyncio._get_running_loop()  # None outside a loop; cheaper than get_running_loop's exception
    if loop is None:
        _DROPPED_NO_LOOP.inc()
        return
    try:
        if loop is not _pub.loop:
            _pub.adopt(loop)
        now = time.monotonic()
        # Traffic drives the poll (an idle worker asks nothing); one at a time, so a hung cache cannot pile them up.
        if now >= _pub.next_poll and (_pub.poller is None or _pub.poller.done()):
            _pub.next_poll = now + WATCH_POLL_SECONDS
            _pub.poller = loop.create_task(_poll_watched())
        if not _pub.watched:
            return
        if _pub.task is None:
            _pub.task = loop.create_task(_drain(_pub.queue), name="livelog-drain")  # type: ignore[arg-type]
        # Raw parts only: the dict is built by the drainer, off the request's path.
        _pub.queue.put_nowait((time.time(), facts, request_id, key_prefix, usage, cost_micros, estimated))  # type: ignore[union-attr]
    except asyncio.QueueFull:
        _DROPPED_FULL.inc()
    except Exception:
        log.exception("live log: publish failed")


def pending() -> int:
    """Events waiting in this process's queue (0 before the first publish)."""
    return _pub.queue.qsize() if _pub.queue is not None else 0


async def announce_watcher() -> None:
    """A viewer is connected: every worker publishes for the next WATCH_TTL_SECONDS (this one at once)."""
    _pub.announced_until = time.monotonic() + WATCH_TTL_SECONDS
    _pub.watched = True
    try:
        await asyncio.to_thread(cache.set, WATCH_KEY, True, WATCH_TTL_SECONDS)
    except Exception:
        log.warning("live log: could not announce a viewer through the cache", exc_info=True)


async def stop() -> None:
    """Stop this process's drainer and poll and forget its queue (the next publish starts afresh)."""
    tasks = [task for task in (_pub.task, _pub.poller) if task is not None]
    _pub.reset()
    for task in tasks:
        if not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _drain(queue: asyncio.Queue[Pending]) -> None:
    from channels.layers import get_channel_layer

    getter: asyncio.Future[Pending] | None = None
    try:
        while True:
            # One pending get() kept across idle checks: a get cancelled by a timeout could swallow an event.
            getter = getter or asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter}, timeout=WATCH_POLL_SECONDS)
            if not done:
                if not _pub.watched:
                    return  # idle and unwatched: the next watched publish starts a new drainer
                continue
            batch, getter = [getter.result()], None
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            await _send(get_channel_layer(), batch)
    finally:
        if _pub.task is asyncio.current_task():
            _pub.task = None
        # A loop closed without cancelling its tasks (a test's thread) ends this coroutine when it is collected.
        if getter is not None and not getter.done() and not getter.get_loop().is_closed():
            getter.cancel()


async def _send(layer: Any, batch: list[Pending]) -> None:
    try:
        if layer is None:
            raise RuntimeError("no channel layer configured (CHANNEL_LAYERS)")
        # One JSON string, not a list of dicts: the in-memory layer deep-copies every message (about 80 % of a
        # batch's cost as dicts), Redis msgpacks it; a string is copied and packed for almost nothing.
        events = json.dumps(await _events(batch), separators=(",", ":"))
        await layer.group_send(GROUP, {"type": MESSAGE_TYPE, "events_json": events})
    except Exception:
        _DROPPED_SEND.inc(len(batch))
        log.warning("live log: %d events not sent", len(batch), exc_info=True)


async def _poll_watched() -> None:
    try:
        anywhere = bool(await asyncio.to_thread(cache.get, WATCH_KEY))
    except Exception:  # keep the last answer: a cache hiccup must not flap the log
        log.warning("live log: could not read the viewer flag", exc_info=True)
        return
    _pub.watched = anywhere or time.monotonic() < _pub.announced_until


async def _events(batch: list[Pending]) -> list[dict[str, Any]]:
    accounts = {facts.account_id for _, facts, *_ in batch}
    channels = {facts.channel_id for _, facts, *_ in batch if facts.channel_id is not None}
    await _resolve_names(accounts, channels)
    return [event(*pending) for pending in batch]


def event(
    at: float, facts: Any, request_id: str, key_prefix: str, usage: Any, cost_micros: int, estimated: bool
) -> dict[str, Any]:
    """The dict viewers receive (JSON-safe); names come from the drainer's cache, empty when unknown."""
    account = _name("account", facts.account_id)
    channel = _name("channel", facts.channel_id) if facts.channel_id is not None else {}
    return {
        "time": at,
        "request_id": request_id,
        "account_id": facts.account_id,
        "account_name": account.get("name", ""),
        "account_email": account.get("email", ""),
        "key_prefix": key_prefix,
        "model": facts.model_id,
        "door": getattr(facts, "door", "responses"),  # the client protocol it came through (issue 15)
        "channel_id": facts.channel_id,
        "channel_name": channel.get("name", ""),
        "credential": served_credential(facts),  # the pool key's short id, never the secret
        "status": facts.status,
        "error_code": facts.error_code or "",
        "stream": facts.stream,
        "latency_ms": facts.latency_ms,
        "input_tokens": usage.input_tokens if usage is not None else 0,
        "output_tokens": usage.output_tokens if usage is not None else 0,
        "usage_estimated": estimated,
        "cost_micros": cost_micros,
    }


def _name(kind: str, pk: int) -> dict[str, str]:
    found = _pub.names.get((kind, pk))
    return found[1] if found else {}


async def _resolve_names(account_ids: set[int], channel_ids: set[int]) -> None:
    now = time.monotonic()

    def stale(kind: str, pk: int) -> bool:
        known = _pub.names.get((kind, pk))
        return known is None or known[0] < now

    accounts = [pk for pk in account_ids if stale("account", pk)]
    channels = [pk for pk in channel_ids if stale("channel", pk)]
    if not accounts and not channels:
        return
    try:
        found = await run_db(_lookup_names, accounts, channels)
    except Exception:  # names are decoration: send the ids without them
        log.warning("live log: name lookup failed", exc_info=True)
        return
    expires = now + NAME_TTL_SECONDS
    for key, names in found.items():
        _pub.names[key] = (expires, names)


def _lookup_names(account_ids: list[int], channel_ids: list[int]) -> dict[tuple[str, int], dict[str, str]]:
    # By label, not import: gateway sits below accounts.
    account_model = apps.get_model("accounts", "Account")
    channel_model = apps.get_model("gateway", "Channel")
    # Ids not found (a deleted row) are remembered as nameless, not asked for again with every batch.
    found: dict[tuple[str, int], dict[str, str]] = {("account", pk): {} for pk in account_ids}
    found |= {("channel", pk): {} for pk in channel_ids}
    for pk, name, email in account_model.objects.filter(pk__in=account_ids).values_list("pk", "name", "email"):
        found[("account", pk)] = {"name": name, "email": email}
    for pk, name in channel_model.objects.filter(pk__in=channel_ids).values_list("pk", "name"):
        found[("channel", pk)] = {"name": name}
    return found
