"""Server-sent events: encode ours, decode the upstream's. Bytes in, bytes out; no copies we can avoid."""

from dataclasses import dataclass

import msgspec

_encode = msgspec.json.encode


def encode_event(event_type: str, payload: dict) -> bytes:
    """`event: <type>` + `data: <one-line JSON>` + blank line, as OpenAI sends it."""
    return b"event: " + event_type.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes  # the joined data lines, undecoded
    raw: bytes  # the whole event as received, blank line included, to forward untouched


class SSEDecoder:
    """Incremental decoder: feed network chunks, get whole events. Tolerates CRLF and comments."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            block = buffer[start : end + 2]
            start = end + 2
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[SSEEvent]:
        """The stream ended: a last event without its blank line still counts."""
        rest, self._buffer = self._buffer, b""
        if rest.strip():
            event = _parse_block(rest.rstrip(b"\n") + b"\n\n")
            return [event] if event is not None else []
        return []


def _parse_block(block: bytes) -> SSEEvent | None:
    event_type: str | None = None
    data_lines: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data_lines.append(value)
        elif name == b"event":
            event_type = value.decode("utf-8", "replace")
    if not data_lines:
        return None
    return SSEEvent(event=event_type, data=b"\n".join(data_lines), raw=block)
