"""Crossing from the event loop into the ORM.

`sync_to_async` defaults to one shared thread: under load every request would queue behind it.
The relay's database work runs in its own bounded pool instead; each thread keeps one persistent
connection (so the pool size bounds the connections one worker opens).

Django checks an idle connection with a `SELECT 1` before its first query of every "request", and
each call here would count as one: two extra round trips per relayed request, a third of the pool
threads' time. So the check (and the CONN_MAX_AGE / broken-connection sweep) runs at most once per
HARNMODEL_DB_CHECK_SECONDS per thread, and at once after any database error on that thread.
"""

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connections

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None
_checked = threading.local()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.HARNMODEL_DB_THREADS, thread_name_prefix="harnmodel-db")
    return _executor


def _sweep_due() -> bool:
    now = time.monotonic()
    if now - getattr(_checked, "at", -1e9) >= settings.HARNMODEL_DB_CHECK_SECONDS or any(
        conn.errors_occurred for conn in connections.all(initialized_only=True)
    ):
        _checked.at = now
        return True
    return False


def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    if _sweep_due():
        close_old_connections()  # drop a connection that broke or outlived CONN_MAX_AGE; ping before next use
    try:
        return fn(*args, **kwargs)
    finally:
        if not settings.HARNMODEL_DB_PERSISTENT:
            connections.close_all()


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(_call, fn, args, kwargs))
