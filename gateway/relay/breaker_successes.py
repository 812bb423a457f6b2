"""Successes on a closed breaker, counted in this worker and written to Redis together.

A success on a closed breaker changes nothing but its call count (the failure-rate rule's denominator),
yet writing it cost every request a Redis round trip. So this worker counts them per key and adds them
with the key's next write (a failure carries them in the same script call) or, at the latest, every
HARNMODEL_BREAKER_SUCCESS_FLUSH seconds in one pipeline. Successes while a breaker is open or half-open
are still written at once (a probe's success closes it). A crash loses at most one flush interval of
successes, which only makes the failure-rate rule a little quicker to open.
"""

import asyncio
import logging

from django.conf import settings

log = logging.getLogger("harnmodel.breaker")
MAX_KEYS = 10_000  # keys come from the catalog (channel × model, credential × channel); flushed early past it

_pending: dict[str, int] = {}
_flusher: asyncio.Task | None = None


def count(key: str) -> None:
    global _flusher
    _pending[key] = _pending.get(key, 0) + 1
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_later())
    elif len(_pending) >= MAX_KEYS:
        _flusher.cancel()
        _flusher = loop.create_task(_flush_later(0))


def take(key: str) -> int:
    """This key's counted successes, handed to a write that carries them."""
    return _pending.pop(key, 0)


async def flush() -> None:
    """Write every counted success now (tests; a worker shutting down)."""
    from gateway.relay import breaker

    pending = dict(_pending)
    _pending.clear()
    if pending:
        await breaker.write_successes(pending)


async def _flush_later(delay: float | None = None) -> None:
    await asyncio.sleep(settings.HARNMODEL_BREAKER_SUCCESS_FLUSH if delay is None else delay)
    try:
        await flush()
    except Exception:  # successes are evidence, never worth a failed request
        log.warning("breaker: counted successes not written", exc_info=True)


def reset() -> None:
    _pending.clear()
