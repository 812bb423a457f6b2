"""One in-process cache shape for the whole gateway: bounded by entries AND bytes, oldest evicted first.

Every process-local dict keyed by something a client can vary (a model name, a key hash) must be bounded,
or one client grows this worker's memory without end (300 distinct 1 MB model names held 290 MB). Counting
entries alone is not enough: a few huge keys fit under any entry cap. So each entry is charged an
estimate of its bytes (key + value + a fixed overhead) and the cache evicts its oldest entries until both
budgets hold. An entry that alone exceeds the byte budget is not stored at all.

Not thread-safe on its own: callers on the event loop need nothing; callers in threads hold their lock.
"""

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

ENTRY_OVERHEAD = 120  # bytes: the OrderedDict slot, its link and the stored tuple, roughly


def approx_size(value: Any) -> int:
    """A cheap size estimate: exact for str/bytes, shallow for the rest (values here are small records)."""
    if isinstance(value, (str, bytes)):
        return sys.getsizeof(value)
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(approx_size(item) for item in value[:16])
    return sys.getsizeof(value)


class BoundedCache:
    """A dict with an entry cap, a byte cap and an optional time to live (seconds; 0 or None = forever)."""

    def __init__(
        self,
        max_entries: int | Callable[[], int],
        max_bytes: int | Callable[[], int],
        *,
        size: Callable[[Any, Any], int] | None = None,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._size = size or (lambda key, value: approx_size(key) + approx_size(value))
        self._data: OrderedDict[Any, tuple[float, Any, int]] = OrderedDict()  # key → (expires, value, bytes)
        self.bytes = 0
        self.evictions = 0

    @property
    def max_entries(self) -> int:
        return self._max_entries() if callable(self._max_entries) else self._max_entries

    @property
    def max_bytes(self) -> int:
        return self._max_bytes() if callable(self._max_bytes) else self._max_bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Any) -> bool:
        return self.lookup(key)[0]

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._data))

    def lookup(self, key: Any) -> tuple[bool, Any]:
        """(found, value); an expired entry is dropped and reported missing."""
        hit = self._data.get(key)
        if hit is None:
            return False, None
        if hit[0] and hit[0] < time.monotonic():
            self._drop(key)
            return False, None
        return True, hit[1]

    def get(self, key: Any, default: Any = None) -> Any:
        found, value = self.lookup(key)
        return value if found else default

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        cost = self._size(key, value) + ENTRY_OVERHEAD
        max_bytes, max_entries = self.max_bytes, self.max_entries
        self._drop(key)
        if cost > max_bytes or max_entries <= 0:
            return  # would evict everything else and still not fit
        self._data[key] = (time.monotonic() + ttl if ttl else 0.0, value, cost)
        self.bytes += cost
        while len(self._data) > max_entries or self.bytes > max_bytes:
            oldest = next(iter(self._data))
            self._drop(oldest)
            self.evictions += 1

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def __getitem__(self, key: Any) -> Any:
        found, value = self.lookup(key)
        if not found:
            raise KeyError(key)
        return value

    def setdefault(self, key: Any, default: Any) -> Any:
        found, value = self.lookup(key)
        if found:
            return value
        self.put(key, default)
        return default

    def pop(self, key: Any, default: Any = None) -> Any:
        found, value = self.lookup(key)
        self._drop(key)
        return value if found else default

    def items(self) -> list[tuple[Any, Any]]:
        return [(key, hit[1]) for key, hit in list(self._data.items())]

    def _drop(self, key: Any) -> None:
        hit = self._data.pop(key, None)
        if hit is not None:
            self.bytes -= hit[2]

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0
