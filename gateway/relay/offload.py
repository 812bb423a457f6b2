"""CPU-heavy steps of a big request (decoding, validating and counting the tokens of a multi-MB body) run in
a small thread pool, never on the event loop: counting the tokens of a 15 MB body takes ~1.5 s, and on the
loop every other request of the worker waits that long.

Small bodies stay inline (they take microseconds; a thread hop would cost more). The pool is bounded
(HARNMODEL_CPU_THREADS): big bodies queue behind each other instead of each taking a thread. A thread
still shares the GIL, but the work there is Python-level or chunked C, so the loop gets it back every few
milliseconds (sys.getswitchinterval).
"""

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")
DEFAULT_INLINE_BYTES = 256 * 1024
DEFAULT_THREADS = 2
_pool: ThreadPoolExecutor | None = None


def inline_bytes() -> int:
    return getattr(settings, "HARNMODEL_INLINE_BODY_BYTES", DEFAULT_INLINE_BYTES)


def heavy(size: int) -> bool:
    """Whether a body of `size` bytes is worth a thread."""
    return size > inline_bytes()


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        threads = getattr(settings, "HARNMODEL_CPU_THREADS", DEFAULT_THREADS)
        _pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="harnmodel-cpu")
    return _pool


async def run(size: int, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, inline for a small body, in the CPU pool for one over HARNMODEL_INLINE_BODY_BYTES."""
    if not heavy(size):
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(_executor(), functools.partial(fn, *args))
