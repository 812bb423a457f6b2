"""The interface every client-protocol door implements.

A door turns its client's body into the internal form (a Responses request body, validated once by
`gateway.wire.schema`) and turns the relay's answer — a Responses response object, or the bytes of a
Responses SSE stream — back into its own protocol, errors included. Doors are pure and stateless
apart from their per-stream renderer; no I/O, no Django models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from gateway.wire.errors import ApiError


@dataclass(slots=True)
class DoorRequest:
    """What a door learnt from its client, beyond the body."""

    body: dict[str, Any]  # the internal form: a Responses API request body (validated later by gateway.wire.schema)
    stream: bool  # the client asked for a stream in its own protocol's way
    model: str  # the public model id the client named (path or body)
    extras: dict[str, Any] = field(default_factory=dict)  # door-specific facts the renderers need
    # The client's own decoded body (a same-protocol channel gets it as it is: gateway/protocols/native.py)
    # and the top-level fields the door does not know, which only such a channel may take, by name.
    raw: dict[str, Any] | None = None
    unknown: tuple[str, ...] = ()


class StreamRenderer(ABC):
    """Turns the Responses SSE events of one answer into the door's stream, chunk by chunk.

    `feed` gets Responses events already decoded (type, payload dict) in order and returns the bytes
    to send now (possibly b""); `close` returns the bytes that end the door's stream (e.g. `data:
    [DONE]`). A content delta must be rendered as soon as it arrives: never hold content back.
    """

    @abstractmethod
    def feed(self, event_type: str, data: dict[str, Any]) -> bytes: ...

    @abstractmethod
    def close(self) -> bytes: ...


class Door(ABC):
    """One client protocol. `name` is what usage records, logs and metrics call the door."""

    name: str
    stream_content_type: str = "text/event-stream"

    @abstractmethod
    def parse(self, body: dict[str, Any], *, path_model: str | None = None, query: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> DoorRequest:
        """The client's decoded JSON body → the internal form. Raises gateway.wire.errors.InvalidRequest
        (with `param` in the client's own field names) for anything malformed or unsupported — a field
        the internal form cannot carry is refused by name, never silently dropped."""

    @abstractmethod
    def render_json(self, response: dict[str, Any], request: DoorRequest) -> dict[str, Any]:
        """A finished Responses response object → the door's JSON answer."""

    @abstractmethod
    def stream_renderer(self, request: DoorRequest) -> StreamRenderer:
        """A renderer for one streamed answer."""

    @abstractmethod
    def error_body(self, error: ApiError) -> dict[str, Any]:
        """An error in the door's native shape (the HTTP status stays `error.status`)."""

    def client_error(self, error: ApiError, request: DoorRequest) -> ApiError:
        """An error raised after `parse` names internal fields (`input[3].file_data`); a door whose field
        names differ maps them back to the client's own (`messages[2].content[1].file.file_data`)."""
        return error

    def stream_content_type_for(self, request: DoorRequest) -> str:
        return self.stream_content_type
