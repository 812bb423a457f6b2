"""Response IDs that remember their channel, so `previous_response_id` returns to the same upstream.

Our id = "resp_" + base64url(kind, channel id, body, tag), tag = HMAC-SHA256 (key derived from
SECRET_KEY) over everything before it, cut to 12 bytes: a client can neither forge a reference
to another channel nor read more than a channel number out of it.

* kind 1, minted: body = 16 random bytes. Translating adapters give the response this id; the
  upstream never sees it, so it is also what a follow-up sends on (if the protocol keeps state).
* kind 2 / 3, wrapped: body = the upstream's own id (kind 3: "resp_" + hex, stored as raw bytes),
  for passthrough upstreams that store responses under their id. A follow-up sends that id upstream.
"""

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from . import ids

PREFIX = "resp_"
_MINTED, _WRAPPED, _WRAPPED_HEX = 1, 2, 3
_TAG = 12
_HEAD = struct.Struct(">BQ")  # kind, channel id
_HEX_ID = re.compile(r"resp_((?:[0-9a-f]{2})+)")


@dataclass(frozen=True, slots=True)
class Ref:
    channel_id: int
    upstream_id: str  # what the upstream knows this response as


@cache
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"harnmodel.response-id.v1", hashlib.sha256).digest()


def _seal(kind: int, channel_id: int, body: bytes) -> str:
    payload = _HEAD.pack(kind, channel_id) + body
    tag = hmac.new(_key(settings.SECRET_KEY), payload, hashlib.sha256).digest()[:_TAG]
    return PREFIX + base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def mint(channel_id: int) -> str:
    """A fresh id for a response a translating adapter builds."""
    return _seal(_MINTED, channel_id, ids.token_bytes(16))


def wrap(channel_id: int, upstream_id: str) -> str:
    """Our id for a response the upstream named `upstream_id`."""
    match = _HEX_ID.fullmatch(upstream_id)
    if match:
        return _seal(_WRAPPED_HEX, channel_id, bytes.fromhex(match.group(1)))
    return _seal(_WRAPPED, channel_id, upstream_id.encode())


def parse(response_id: str) -> Ref | None:
    """The channel and upstream id behind one of our ids; None for anything we did not sign."""
    if not isinstance(response_id, str) or not response_id.startswith(PREFIX) or len(response_id) > 1024:
        return None
    text = response_id[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _HEAD.size + _TAG:
        return None
    payload, tag = raw[:-_TAG], raw[-_TAG:]
    expected = hmac.new(_key(settings.SECRET_KEY), payload, hashlib.sha256).digest()[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    kind, channel_id = _HEAD.unpack_from(payload)
    body = payload[_HEAD.size :]
    if kind == _MINTED:
        return Ref(channel_id, response_id)
    if kind == _WRAPPED_HEX:
        return Ref(channel_id, PREFIX + body.hex())
    if kind == _WRAPPED:
        try:
            return Ref(channel_id, body.decode())
        except UnicodeDecodeError:
            return None
    return None


class Rewriter:
    """Rewrites a response object the upstream sent: its id (and the echoed previous id) become ours.

    Ids the gateway minted itself (translating adapters, the simulator) pass unchanged."""

    __slots__ = ("channel_id", "own_id", "client_previous", "_done")

    def __init__(self, channel_id: int, own_id: str, client_previous: str | None) -> None:
        self.channel_id = channel_id
        self.own_id = own_id
        self.client_previous = client_previous  # the previous_response_id the client sent, as sent
        self._done: dict[str, str] = {}

    def __call__(self, response: dict) -> None:
        upstream_id = response.get("id")
        if isinstance(upstream_id, str) and upstream_id != self.own_id:
            ours = self._done.get(upstream_id)
            if ours is None:
                ours = self._done[upstream_id] = wrap(self.channel_id, upstream_id)
            response["id"] = ours
        if self.client_previous and response.get("previous_response_id"):
            response["previous_response_id"] = self.client_previous
