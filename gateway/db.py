"""Crossing from the event loop into the ORM.

`sync_to_async` defaults to one shared thread: under load every request would queue behind it.
The relay's database work runs in its own bounded pool instead; each thread keeps one persistent
connection (so the pool size bounds the connections one worker opens).
"""

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connections

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.HARNMODEL_DB_THREADS, thread_name_prefix="harnmodel-db")
    return _executor


def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    close_old_connections()  # drop a connection that broke or outlived CONN_MAX_AGE
    try:
        return fn(*args, **kwargs)
    finally:
        if not settings.HARNMODEL_DB_PERSISTENT:
            connections.close_all()


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(_call, fn, args, kwargs))
