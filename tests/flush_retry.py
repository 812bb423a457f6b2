"""The test database's flush, retried when a late write of the server under test gets in its way.

Gateway tests talk to a real server in another process. A hold closing is the last thing a test waits
for, but the server keeps a few rows in the background after that (receipts are inserted in batches,
20 ms after their settlement). On PostgreSQL such an INSERT can meet the flush's TRUNCATE and one of
the two is chosen as a deadlock victim; when that is the TRUNCATE, the next test starts on dirty tables.
The flush is all-or-nothing, so running it again once the other writer is done is safe."""

import time

from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import OperationalError

ATTEMPTS = 5
PAUSE = 0.2


def _lost_a_race(error: CommandError) -> bool:
    cause = error.__cause__
    return isinstance(cause, OperationalError) and ("deadlock" in str(cause) or "lock" in str(cause))


def install() -> None:
    original = flush.Command.handle
    if getattr(original, "retries_races", False):
        return

    def handle(self, *args, **options):
        for attempt in range(ATTEMPTS):
            try:
                return original(self, *args, **options)
            except CommandError as error:
                if attempt == ATTEMPTS - 1 or not _lost_a_race(error):
                    raise
                time.sleep(PAUSE)

    handle.retries_races = True
    flush.Command.handle = handle
