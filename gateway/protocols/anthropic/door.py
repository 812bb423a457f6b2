"""The Anthropic Messages door, "messages" (`POST /v1/messages`). See request, render and stream."""

from __future__ import annotations

from typing import Any

from gateway.protocols.anthropic import headers
from gateway.protocols.anthropic.params import client_param
from gateway.protocols.anthropic.render import count_tokens_body, error_body, message_object
from gateway.protocols.anthropic.request import parse_count_tokens, parse_messages
from gateway.protocols.anthropic.stream import MessagesStreamRenderer
from gateway.protocols.door import Door, DoorRequest, StreamRenderer
from gateway.wire.errors import ApiError


class MessagesDoor(Door):
    name = "messages"
    stream_content_type = "text/event-stream; charset=utf-8"

    def parse(
        self,
        body: dict[str, Any],
        *,
        path_model: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> DoorRequest:
        # The model is always in the body (Anthropic has no model in its paths); the query carries nothing.
        return parse_messages(body, headers)

    def render_json(self, response: dict[str, Any], request: DoorRequest) -> dict[str, Any]:
        return message_object(response, request.model)

    def stream_renderer(self, request: DoorRequest) -> StreamRenderer:
        return MessagesStreamRenderer(request)

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return error_body(error)

    def client_error(self, error: ApiError, request: DoorRequest) -> ApiError:
        if error.param:
            error.param = client_param(request, error.param)
        return error

    # -- beyond the Door interface (for the relay's wiring) ---------------------------------------
    @staticmethod
    def api_key(request_headers: dict[str, str] | None) -> str | None:
        """The client's secret from `x-api-key` or `Authorization: Bearer`."""
        return headers.api_key(request_headers)

    @staticmethod
    def parse_count_tokens(body: Any, request_headers: dict[str, str] | None = None) -> DoorRequest:
        """`POST /v1/messages/count_tokens` → the internal form to count (never charged)."""
        return parse_count_tokens(body, request_headers)

    @staticmethod
    def count_tokens_body(input_tokens: int) -> dict[str, int]:
        return count_tokens_body(input_tokens)
