"""A stream's end, held back until the request is settled so its final usage event can carry the receipt.
Holding starts when the translator says the answer is closing (its final usage may be among what comes);
the held bytes go out right after settlement, a few milliseconds later."""

import asyncio

from gateway.receipts.issue import enabled
from gateway.receipts.stamp import into_stream


class Tail:
    def __init__(self, door: str, translated: bool) -> None:
        self.door = door
        self.translated = translated  # Responses events (rendered into the door's protocol later)
        self.on = enabled()
        self.held: list[bytes] = []

    def send(self, queue: asyncio.Queue, closing: bool, out: bytes) -> None:
        if self.on and (self.held or closing):
            self.held.append(out)
        else:
            queue.put_nowait(out)

    def flush(self, queue: asyncio.Queue, receipt: str | None) -> None:
        data = b"".join(self.held)
        self.held.clear()
        if receipt and data:
            data = into_stream(data, self.door, self.translated, receipt)
        if data:
            queue.put_nowait(data)
