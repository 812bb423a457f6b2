"""Response IDs that remember their channel, so `previous_response_id` returns to the same upstream.

Our id = "resp_" + base64url(kind, channel id, account id, body, tag), tag = HMAC-SHA256 (key
derived from SECRET_KEY) over everything before it, cut to 12 bytes: a client can neither forge a
reference to another channel nor read more than a channel and account number out of it.

* kind 4, minted: body = 16 random bytes. Translating adapters give the response this id; the
  upstream never sees it, so it is also what a follow-up sends on (if the protocol keeps state).
* kind 5 / 6, wrapped: body = the upstream's own id (kind 6: "resp_" + hex, stored as raw bytes),
  for passthrough upstreams that store responses under their id. A follow-up sends that id upstream.

The account id is inside the signed part: an id issued to one account, sent by another, names the
wrong account and is refused like a forged one (`attempts._sticky`); it would otherwise continue
someone else's stored conversation. Kinds 1-3 are the older layout without an account: they still
parse (account_id None), and are refused as follow-ups, since nobody can say whose they were.

The account comes from the caller, or else from `bind()`, which the relay calls once per request
(a context variable: each request runs in its own task). Probes have no account: 0.
"""

import base64
import binascii
import hashlib
import hmac
import re
import struct
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from gateway.wire import ids

PREFIX = "resp_"
_LEGACY = {1: 4, 2: 5, 3: 6}  # kinds without an account → their counterpart with one
_MINTED, _WRAPPED, _WRAPPED_HEX = 4, 5, 6
_TAG = 12
_KIND = struct.Struct(">B")
_HEAD_V1 = struct.Struct(">BQ")  # kind, channel id
_HEAD = struct.Struct(">BQQ")  # kind, channel id, account id
_account: ContextVar[int] = ContextVar("harnmodel_response_account", default=0)
_HEX_ID = re.compile(r"resp_((?:[0-9a-f]{2})+)")


@dataclass(frozen=True, slots=True)
class Ref:
    channel_id: int
    upstream_id: str  # what the upstream knows this response as
    account_id: int | None = None  # whose response it is; None for an id in the older layout


def bind(account_id: int) -> None:
    """The account the ids this request issues belong to (until the request's task ends)."""
    _account.set(account_id)


def _owner(account_id: int | None) -> int:
    return _account.get() if account_id is None else account_id


@cache
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"harnmodel.response-id.v1", hashlib.sha256).digest()


def _seal(kind: int, channel_id: int, account_id: int, body: bytes) -> str:
    payload = _HEAD.pack(kind, channel_id, account_id) + body
    tag = hmac.new(_key(settings.SECRET_KEY), payload, hashlib.sha256).digest()[:_TAG]
    return PREFIX + base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def mint(channel_id: int, account_id: int | None = None) -> str:
    """A fresh id for a response a translating adapter builds."""
    return _seal(_MINTED, channel_id, _owner(account_id), ids.token_bytes(16))


def wrap(channel_id: int, upstream_id: str, account_id: int | None = None) -> str:
    """Our id for a response the upstream named `upstream_id`."""
    account = _owner(account_id)
    match = _HEX_ID.fullmatch(upstream_id)
    if match:
        return _seal(_WRAPPED_HEX, channel_id, account, bytes.fromhex(match.group(1)))
    return _seal(_WRAPPED, channel_id, account, upstream_id.encode())


def parse(response_id: str) -> Ref | None:
    """The channel and upstream id behind one of our ids; None for anything we did not sign."""
    if not isinstance(response_id, str) or not response_id.startswith(PREFIX) or len(response_id) > 1024:
        return None
    text = response_id[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _HEAD_V1.size + _TAG:
        return None
    payload, tag = raw[:-_TAG], raw[-_TAG:]
    expected = hmac.new(_key(settings.SECRET_KEY), payload, hashlib.sha256).digest()[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    (kind,) = _KIND.unpack_from(payload)
    account_id: int | None
    if kind in _LEGACY:
        _, channel_id = _HEAD_V1.unpack_from(payload)
        kind, account_id, body = _LEGACY[kind], None, payload[_HEAD_V1.size :]
    elif len(payload) >= _HEAD.size:
        _, channel_id, account_id = _HEAD.unpack_from(payload)
        body = payload[_HEAD.size :]
    else:
        return None
    if kind == _MINTED:
        return Ref(channel_id, response_id, account_id)
    if kind == _WRAPPED_HEX:
        return Ref(channel_id, PREFIX + body.hex(), account_id)
    if kind == _WRAPPED:
        try:
            return Ref(channel_id, body.decode(), account_id)
        except UnicodeDecodeError:
            return None
    return None


class Rewriter:
    """Rewrites a response object the upstream sent: its id (and the echoed previous id) become ours.

    Ids the gateway minted itself (translating adapters, the simulator) pass unchanged."""

    __slots__ = ("channel_id", "account_id", "own_id", "client_previous", "_done")

    def __init__(
        self, channel_id: int, own_id: str, client_previous: str | None, account_id: int | None = None
    ) -> None:
        self.channel_id = channel_id
        self.account_id = _owner(account_id)  # fixed now: the stream may be read in another context
        self.own_id = own_id
        self.client_previous = client_previous  # the previous_response_id the client sent, as sent
        self._done: dict[str, str] = {}

    def __call__(self, response: dict) -> None:
        upstream_id = response.get("id")
        if isinstance(upstream_id, str) and upstream_id != self.own_id:
            ours = self._done.get(upstream_id)
            if ours is None:
                ours = self._done[upstream_id] = wrap(self.channel_id, upstream_id, self.account_id)
            response["id"] = ours
        if self.client_previous and response.get("previous_response_id"):
            response["previous_response_id"] = self.client_previous
