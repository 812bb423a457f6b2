"""The Gemini door: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`."""

from __future__ import annotations

from typing import Any

from gateway.protocols.door import Door, DoorRequest, StreamRenderer
from gateway.protocols.gemini.render import error_body, generate_content_response
from gateway.protocols.gemini.request import model_from_path, to_responses
from gateway.protocols.gemini.stream import GeminiStreamRenderer
from gateway.wire.errors import ApiError, InvalidRequest

METHODS = {"generateContent": False, "streamGenerateContent": True}
# Internal fields the pipeline's validator may name → Gemini's own, so a 400 points at what the client sent.
_CLIENT_PARAMS = {
    "temperature": "generationConfig.temperature",
    "top_p": "generationConfig.topP",
    "max_output_tokens": "generationConfig.maxOutputTokens",
    "instructions": "systemInstruction",
    "reasoning": "generationConfig.thinkingConfig",
    "reasoning.effort": "generationConfig.thinkingConfig",
    "text": "generationConfig.responseSchema",
    "text.format": "generationConfig.responseSchema",
    "text.format.schema": "generationConfig.responseSchema",
    "input": "contents",
    "tool_choice": "toolConfig",
}


def split_model_path(tail: str) -> tuple[str, bool]:
    """`gemini-2.5-flash:streamGenerateContent` (after `/v1beta/models/`) → (model, stream)."""
    model, sep, method = tail.rpartition(":")
    if not sep or method not in METHODS:
        raise InvalidRequest("Use models/{model}:generateContent or :streamGenerateContent.", status=404,
                             code="not_found")
    return model_from_path(model), METHODS[method]


class GeminiDoor(Door):
    name = "gemini"

    def parse(self, body: dict[str, Any], *, path_model: str | None = None, query: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> DoorRequest:
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        if path_model is None:
            raise InvalidRequest("The model is named in the URL: models/{model}:generateContent.", param="model")
        model, stream = split_model_path(path_model)
        internal, extras = to_responses(body, model)
        internal["stream"] = stream
        extras["sse"] = (query or {}).get("alt") == "sse"
        return DoorRequest(body=internal, stream=stream, model=model, extras=extras)

    def render_json(self, response: dict[str, Any], request: DoorRequest) -> dict[str, Any]:
        return generate_content_response(response, request.model)

    def stream_renderer(self, request: DoorRequest) -> StreamRenderer:
        return GeminiStreamRenderer(request.model, sse=bool(request.extras.get("sse")))

    def stream_content_type_for(self, request: DoorRequest) -> str:
        return "text/event-stream" if request.extras.get("sse") else "application/json"

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return error_body(error)

    def client_error(self, error: ApiError, request: DoorRequest) -> ApiError:
        if error.param in _CLIENT_PARAMS:
            error.param = _CLIENT_PARAMS[error.param]
        return error
