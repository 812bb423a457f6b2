"""A key's "last used" time, kept without a database write per request.

Each worker remembers when it last stamped a key and writes at most once per
HARNMODEL_KEY_TOUCH_SECONDS per key, in a background task: the answer never waits for it and a
failed write is only logged (a stale "last used" is harmless, a failed request is not).
"""

import logging
import time

from django.conf import settings

from gateway.db import run_db
from gateway.relay.attempts import in_background
from gateway.services import api_key_touch

log = logging.getLogger("harnmodel.relay")
_stamped: dict[int, float] = {}  # key id → monotonic time this worker last wrote it
_MAX_REMEMBERED = 10_000  # bounded: a worker serving very many keys forgets the oldest stamps


def touched(key_id: int) -> None:
    """Call after a request was served with the key; returns at once."""
    now = time.monotonic()
    every = settings.HARNMODEL_KEY_TOUCH_SECONDS
    last = _stamped.get(key_id)
    if last is not None and now - last < every:
        return
    if len(_stamped) >= _MAX_REMEMBERED:
        _stamped.clear()
    _stamped[key_id] = now
    in_background(_write(key_id, every))


async def _write(key_id: int, every: float) -> None:
    try:
        await run_db(api_key_touch, key_id=key_id, every_seconds=every)
    except Exception:
        log.exception("could not record the key's last use")


def reset_local() -> None:
    _stamped.clear()
