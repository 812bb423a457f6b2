"""State shared by every worker (breakers, rate limits) lives in Redis when REDIS_URL is set.

Redis is a helper here, never a gate: every call has a short timeout, and a worker that saw Redis
fail stops asking it for HARNMODEL_REDIS_RETRY_SECONDS. Callers then fall back (breakers to this
process's own memory, rate limits to letting traffic through) instead of failing requests.
"""

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("harnmodel.shared_state")
T = TypeVar("T")
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = weakref.WeakKeyDictionary()
_down_until = 0.0


def key(*parts: object) -> str:
    return ":".join((settings.HARNMODEL_REDIS_PREFIX, *map(str, parts)))


def configured() -> bool:
    return bool(settings.REDIS_URL)


def client() -> aioredis.Redis | None:
    """This loop's Redis client, or None when Redis is not configured or recently failed."""
    if not settings.REDIS_URL or time.monotonic() < _down_until:
        return None
    return _client()


def _client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    redis = _clients.get(loop)
    if redis is None:
        timeout = settings.HARNMODEL_REDIS_TIMEOUT
        redis = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        _clients[loop] = redis
    return redis


def mark_down(error: BaseException) -> None:
    global _down_until
    if time.monotonic() >= _down_until:
        log.warning("Redis failed (%s); serving without it for %.0f s", type(error).__name__,
                    settings.HARNMODEL_REDIS_RETRY_SECONDS)
    _down_until = time.monotonic() + settings.HARNMODEL_REDIS_RETRY_SECONDS


def reset() -> None:
    """Forget a past failure (tests)."""
    global _down_until
    _down_until = 0.0


async def call(fn: Callable[[aioredis.Redis], Awaitable[T]]) -> tuple[bool, T | None]:
    """Run `fn(redis)`. Returns (True, result), or (False, None) when Redis is absent or failed."""
    redis = client()
    if redis is None:
        return False, None
    try:
        return True, await fn(redis)
    except (RedisError, OSError, TimeoutError) as error:
        mark_down(error)
        return False, None


class Script:
    """A Lua script run by its SHA (EVALSHA), loaded on first use per client."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._scripts: weakref.WeakKeyDictionary[aioredis.Redis, Any] = weakref.WeakKeyDictionary()

    def bound(self, redis: aioredis.Redis) -> Any:
        script = self._scripts.get(redis)
        if script is None:
            script = self._scripts[redis] = redis.register_script(self.source)
        return script

    async def __call__(self, redis: aioredis.Redis, keys: list[str], args: list[Any]) -> Any:
        return await self.bound(redis)(keys=keys, args=args)


async def ping() -> None:
    """Raises unless Redis answers (readiness checks); a success ends a remembered failure."""
    await _client().ping()
    reset()


async def close() -> None:
    """Close this loop's client (a loop that is about to end: tests, the probe task)."""
    redis = _clients.pop(asyncio.get_running_loop(), None)
    if redis is not None:
        await redis.aclose()
