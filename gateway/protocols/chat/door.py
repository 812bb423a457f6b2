"""The Chat Completions door: `POST /v1/chat/completions` in, the internal form to the relay, and
the relay's Responses answers back out as `chat.completion` JSON or `chat.completion.chunk` streams."""

from __future__ import annotations

from typing import Any

from gateway.protocols.chat.door_params import translate_error
from gateway.protocols.chat.door_render import render_completion
from gateway.protocols.chat.door_request import parse_body
from gateway.protocols.chat.door_stream import ChatStreamRenderer
from gateway.protocols.door import Door, DoorRequest, StreamRenderer
from gateway.wire.errors import ApiError


class ChatDoor(Door):
    """extras: `include_usage` (bool, for the stream renderer); `stop` (list of 1-4 strings) and `seed`
    (int) when the client sent them, which the internal form has no field for: the relay must pass
    them to a channel that honours them, or refuse the request for one that cannot."""

    name = "chat"

    def parse(
        self,
        body: dict[str, Any],
        *,
        path_model: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> DoorRequest:
        # The model is in the body; the path, query and headers carry nothing this protocol reads.
        internal, stream, model, extras = parse_body(body)
        return DoorRequest(body=internal, stream=stream, model=model, extras=extras)

    def render_json(self, response: dict[str, Any], request: DoorRequest) -> dict[str, Any]:
        """Raises UpstreamFailed for a `failed` response: Chat has no failed completion, only errors."""
        return render_completion(response, request.model)

    def stream_renderer(self, request: DoorRequest) -> StreamRenderer:
        return ChatStreamRenderer(model=request.model, include_usage=bool(request.extras.get("include_usage")))

    def client_error(self, error: ApiError, request: DoorRequest) -> ApiError:
        """An error raised after `parse` (the pipeline's validator, a channel's refusal) names the
        internal form's field; this names the client's. Not part of the Door interface: the relay
        should call it on every ApiError it raises for this request after `parse`."""
        return translate_error(error, request.extras)

    def error_body(self, error: ApiError) -> dict[str, Any]:
        # Chat Completions errors are OpenAI's own shape, the one gateway.wire.errors already writes.
        return error.body()
