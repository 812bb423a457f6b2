"""The truth score's vocabularies live in a child process of their own.

Loaded in the worker, the two bpe-openai vocabularies (o200k, cl100k) and their package cost it ~155 MB
of resident memory, and counting an input is CPU work that holds the worker's GIL against its event loop.
In one child (spawned, so it shares nothing with the worker's threads and loop) they cost the worker
nothing; the truth thread hands over (role, text) pairs and waits for the count. The child starts, and
loads the vocabularies, when the server starts (`start`), or on the first count.
"""

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from gateway.upstream.truth import counting

TIMEOUT = 60.0  # seconds for one count (a 32 000-token input takes well under one)
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_watch_parent, initargs=(os.getpid(),))
        return _pool


def _watch_parent(parent: int) -> None:
    """In the child: leave when the worker is gone (a killed worker cannot shut its pool down)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="truth-child-watch").start()


def start() -> None:
    """Spawn the child and have it load every vocabulary now (without waiting: the worker serves meanwhile)."""
    _executor().submit(counting.preload)


def count_messages(messages: list[tuple[str, str]], vocab: str) -> int:
    """counting.count_messages, run in the child (the estimate needs no vocabulary: counted here)."""
    if vocab == counting.ESTIMATE:
        return counting.count_messages(messages, vocab)
    try:
        return _executor().submit(counting.count_messages, messages, vocab).result(TIMEOUT)
    except Exception:
        _reset()  # a dead or stuck child: the next count starts a new one
        raise


def _reset() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def stop() -> None:
    _reset()
