"""uvicorn's httptools protocol with a bounded request head (issue M6). Wiring for `scripts/run`, used as
`uvicorn --http harnmodel.http_protocol:BoundedHttpToolsProtocol`; nothing in the apps imports it.

httptools buffers an unfinished header line without limit (4 connections × 50 MB of header → +197 MB
measured), and uvicorn has no option for it (h11's `--h11-max-incomplete-event-size` is h11-only). Here the
bytes of each request head (request line + headers) are counted as they arrive, and past
HARNMODEL_MAX_HEADER_BYTES (16 KiB, h11's default) or HARNMODEL_MAX_HEADERS headers (100) the connection gets
`431 Request Header Fields Too Large` and is closed (the count is checked when the head is complete). The body is not counted: it has its own limits.

Counting is exact at the limit: a read that would cross it is fed only up to the limit, so a head ending
below it is parsed and its body (same read) goes on as usual; only a head still open at the limit is refused.
"""

import os
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 38\r\nconnection: close\r\n\r\n"
    b"Request header fields are too large.\r\n"
)


@cache
def limits() -> tuple[int, int]:
    """(head bytes, headers). Read at the first connection, when the app's settings have loaded `.env`."""
    return (
        int(os.environ.get("HARNMODEL_MAX_HEADER_BYTES") or 16 * 1024),
        int(os.environ.get("HARNMODEL_MAX_HEADERS") or 100),
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._max_bytes, self._max_headers = limits()
        self._in_head = True  # a new connection waits for a request head
        self._head_bytes = 0
        self._heads = 0  # request heads completed on this connection
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_head:
            super().data_received(data)
            return
        budget = self._max_bytes - self._head_bytes
        if len(data) <= budget:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        heads = self._heads
        self._head_bytes = self._max_bytes
        super().data_received(data[:budget])
        if self._heads == heads:  # the limit came and the head did not end
            self._refuse()
        elif not self._refused and not self.transport.is_closing() and self.transport.get_protocol() is self:
            # The body, or the next request's head (counted afresh); not after a WebSocket upgrade took over.
            self.data_received(data[budget:])

    def on_headers_complete(self) -> None:
        # The count is checked once the head is in (no per-header hook on the hot path): the byte bound already
        # keeps what was buffered small.
        if self._refused or len(self.headers) > self._max_headers:
            self._refuse()
            return  # no ASGI cycle for a refused request
        self._in_head = False
        self._heads += 1
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # what comes next is the next request's head

    def _refuse(self) -> None:
        if not self._refused:
            self._refused = True
            self.transport.write(_REFUSAL)
            self.transport.close()
