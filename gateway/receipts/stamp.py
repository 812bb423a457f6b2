"""Putting a receipt into an answer: `"receipt": "<jws>"` becomes the last member of the answer's usage
object, every other byte left as it was (a same-protocol passthrough stays the upstream's own bytes).
Streams: the receipt goes into the event that carries the final usage, which the relay holds back
until the request is settled (job.py's tail)."""

import re

import msgspec

# The usage object of each door's answers; the Responses door (and translated streams, which are
# Responses events until a door renders them) nest it under `response` in stream events.
USAGE_KEY = {"responses": b"usage", "chat": b"usage", "messages": b"usage", "gemini": b"usageMetadata"}
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]', re.S)
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")


def _usage_close(data: bytes, key: bytes) -> int | None:
    """Where the top-level object's `key` object closes (the index of its `}`), or None."""
    depth = 0
    target = None  # the depth of the usage object once it opened
    wanted_at: int | None = None  # where the usage object's `{` must be
    for token in _TOKEN.finditer(data):
        text = token.group()
        if text[:1] == b'"':
            if depth == 1 and target is None and text[1:-1] == key:
                rest = data[token.end() :].lstrip()
                if rest[:1] == b":" and rest[1:].lstrip()[:1] == b"{":
                    wanted_at = len(data) - len(rest[1:].lstrip())
            continue
        if text in (b"{", b"["):
            depth += 1
            if token.start() == wanted_at:
                target = depth
        else:
            if target is not None and depth == target:
                return token.start()
            depth -= 1
    return None


def _object_end(data: bytes, after_key: int) -> int | None:
    """After a key (`"usage"`), the index of the `}` closing its object value, or None if it is not an object."""
    rest = data[after_key:].lstrip()
    if rest[:1] != b":" or rest[1:].lstrip()[:1] != b"{":
        return None
    depth = 0
    for token in _TOKEN.finditer(data, len(data) - len(rest[1:].lstrip())):
        text = token.group()
        if text[:1] == b'"':
            continue
        depth += 1 if text in (b"{", b"[") else -1
        if depth == 0:
            return token.start()
    return None


def _insert(data: bytes, close: int, receipt: str) -> bytes:
    empty = data[:close].rstrip().endswith(b"{")
    return data[:close] + (b"" if empty else b",") + b'"receipt":' + msgspec.json.encode(receipt) + data[close:]


def _from_the_end(data: bytes, key: bytes, receipt: str) -> bytes | None:
    """The usual case, fast: usage is the answer's last such key. Scans only the usage object and what
    follows it; None when that is not provably the outermost object's member (then the full scan decides)."""
    quoted = b'"' + key + b'"'
    at = data.rfind(quoted)
    if at <= 0 or data[at - 1] == 0x5C:  # `\"usage"`: the end of some other string, not this key
        return None
    close = _object_end(data, at + len(quoted))  # a string followed by `:` is a key
    if close is None:
        return None
    depth, last = 0, None
    for token in _TOKEN.finditer(data, close + 1):  # what follows must close exactly one object: the outermost
        text = token.group()
        if text[:1] == b'"':
            continue
        depth += 1 if text in (b"{", b"[") else -1
        if depth < 0:
            last = token
            break
    if last is None or last.group() != b"}" or data[last.end() :].strip():
        return None
    return _insert(data, close, receipt)


def into_json(data: bytes, key: bytes, receipt: str) -> bytes:
    """The JSON text with the receipt added to its top-level `key` object (unchanged when it has none)."""
    stamped = _from_the_end(data, key, receipt)
    if stamped is not None:
        return stamped
    close = _usage_close(data, key)
    return data if close is None else _insert(data, close, receipt)


def _events(data: bytes) -> list[bytes]:
    """SSE events with their separators kept, so joining them gives `data` back."""
    out, start = [], 0
    for end in _EVENT_END.finditer(data):
        out.append(data[start : end.end()])
        start = end.end()
    if start < len(data):
        out.append(data[start:])
    return out


def _stamp_event(event: bytes, key: bytes, receipt: str, nested: bool) -> bytes:
    lines = event.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if not line.startswith(b"data:"):
            continue
        body = line[5:]
        payload = body.strip()
        if nested:  # a Responses terminal event: ours, so decoded and encoded again
            data = msgspec.json.decode(payload)
            usage = data.get("response", {}).get("usage") if isinstance(data, dict) else None
            if not isinstance(usage, dict):
                return event
            usage["receipt"] = receipt
            stamped = msgspec.json.encode(data)
        else:
            stamped = into_json(payload, key, receipt)
        if stamped is payload:
            return event
        lead = body[: len(body) - len(body.lstrip())]
        trail = body[len(body.rstrip()) :]
        lines[index] = b"data:" + lead + stamped + trail
        return b"".join(lines)
    return event


def _is_final_usage(event: bytes, door: str, translated: bool) -> bool:
    if translated:
        return any(b"event: " + name in event or b'"type":"' + name in event for name in _TERMINAL)
    if door == "messages":
        return b"message_delta" in event
    return USAGE_KEY[door] in event and b'"usage":null' not in event.replace(b" ", b"")


def into_stream(tail: bytes, door: str, translated: bool, receipt: str) -> bytes:
    """The held tail of a stream with the receipt in its last final-usage event. `translated`: the tail is
    Responses events (the Responses door, or another door's renderer still to come)."""
    events = _events(tail)
    for index in range(len(events) - 1, -1, -1):
        if _is_final_usage(events[index], door, translated):
            stamped = _stamp_event(events[index], USAGE_KEY[door], receipt, translated)
            if stamped is not events[index]:
                events[index] = stamped
                return b"".join(events)
    return tail
