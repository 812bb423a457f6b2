"""The one interface every upstream protocol implements.

An adapter is stateless and mostly pure: it builds the upstream request, parses a whole reply,
makes a stream translator for one request, and maps upstream errors to ours. The relay owns the
HTTP client, retries, timeouts and billing; adapters never touch the database.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from billing.pricing import Usage
from gateway.relay.meter import OutputMeter
from gateway.wire.schema import ParsedRequest


@dataclass(slots=True)
class CallContext:
    """Everything an adapter may know about one upstream call."""

    request_id: str
    response_id: str  # the `resp_…` id translating adapters give the response
    public_model: str  # what the customer asked for, and what they see echoed
    upstream_model: str  # the channel's name for it
    base_url: str
    secret: str
    stream: bool
    max_output_tokens: int | None  # the cap the hold pays for; always sent upstream
    created_at: int
    options: dict[str, Any] = field(default_factory=dict)
    # Usage → the cost string shown in the final event's `usage.cost` (the customer's price).
    usage_cost: Callable[[Usage], str] | None = None
    cache_key: str | None = None  # the request's prompt_cache_key as upstreams see it (relay/prompt_cache.py)
    cache_writes_priced: bool = False  # the price has a cache-write price: translated requests may write caches


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    timeout: httpx.Timeout | None = None  # per request (the channel's); None = the client's default


@dataclass(slots=True)
class JsonResult:
    body: dict[str, Any]  # a Responses API object, ready for the client
    usage: Usage | None
    raw: bytes | None = None  # a same-protocol passthrough: the upstream's own bytes, sent as they are


class UpstreamError(Exception):
    """An upstream failure mapped to what our client sees. The message never holds a URL or secret."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        retryable: bool,
        type: str = "server_error",
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable  # may another channel succeed where this one failed?
        self.type = type
        self.retry_after = retry_after
        self.param = param
        self.fatal = ""  # set by the relay: why the credential it was sent with is dead (gateway/pool/fatal.py)


class StreamTranslator(ABC):
    """Turns one upstream stream into Responses API SSE bytes, and remembers what it saw.

    `feed` takes raw network chunks; `close` is called at the upstream's end of stream;
    `fail` when the upstream broke. All return bytes for the client (possibly empty).
    """

    usage: Usage | None = None
    usage_estimated: bool = False  # usage is partly our own count (the stream broke before the final count)
    finished: bool = False  # a terminal event went (or came) through
    meter: OutputMeter | None = None  # output counted against the hold's cap (gateway/relay/meter.py); None: unmetered

    @property
    def closing(self) -> bool:
        """From here on the output ends the answer (its final usage among it): the relay holds it back
        until the request is settled, to put the receipt in it (gateway/receipts/tail.py)."""
        return self.finished

    def cut(self) -> bytes:
        """The meter refused output: end the response here, `incomplete` (max_output_tokens)."""
        return b""

    @abstractmethod
    def feed(self, chunk: bytes) -> bytes: ...

    @abstractmethod
    def close(self) -> bytes: ...

    @abstractmethod
    def fail(self, message: str) -> bytes: ...

    @property
    @abstractmethod
    def emitted_text(self) -> str:
        """Output text and tool arguments sent so far: counted locally when usage never comes."""


class Adapter(ABC):
    kind: ClassVar[str]
    label: ClassVar[str]
    needs_base_url: ClassVar[bool] = True

    @abstractmethod
    def build_request(self, request: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        """Pure. May raise errors.InvalidRequest for what this protocol cannot express."""

    @abstractmethod
    def parse_response(self, body: bytes, request: ParsedRequest, ctx: CallContext) -> JsonResult:
        """Pure. A whole upstream reply → a Responses object. Raises UpstreamError if unusable."""

    @abstractmethod
    def stream_translator(self, request: ParsedRequest, ctx: CallContext) -> StreamTranslator: ...

    @abstractmethod
    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError: ...

    async def send(self, client: httpx.AsyncClient, upstream: UpstreamRequest, ctx: CallContext) -> httpx.Response:
        """Open the upstream response (headers read, body not yet). Simulators override this."""
        request = client.build_request(
            upstream.method,
            upstream.url,
            headers=upstream.headers,
            content=upstream.body,
            timeout=upstream.timeout or httpx.USE_CLIENT_DEFAULT,
        )
        return await client.send(request, stream=True)
