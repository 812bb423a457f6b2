"""Sampling controls a client door carried beyond the Responses form (`stop`, `seed`, `top_k`, penalties,
Gemini safety settings: gateway/relay/doors.py names them). Each channel kind says which it honours and where
they go in its body; anything else is refused with the client's own field name, never silently dropped.
The simulator (our own demo model) takes them all and, like temperature, lets none change its answer."""

from __future__ import annotations

from typing import Any

from gateway.wire.errors import InvalidRequest

Extras = dict[str, tuple[Any, str]]  # neutral name → (value, the client's param)

CHAT = {"stop": "stop", "seed": "seed", "presence_penalty": "presence_penalty",
        "frequency_penalty": "frequency_penalty"}
ANTHROPIC = {"stop": "stop_sequences", "top_k": "top_k"}
GEMINI = {
    "stop": "generationConfig.stopSequences",
    "top_k": "generationConfig.topK",
    "seed": "generationConfig.seed",
    "presence_penalty": "generationConfig.presencePenalty",
    "frequency_penalty": "generationConfig.frequencyPenalty",
    "safety_settings": "safetySettings",
}
RESPONSES: dict[str, str] = {}  # the Responses API has none of them


def apply(body: dict[str, Any], extras: Extras, targets: dict[str, str]) -> dict[str, Any]:
    """Put each extra where `targets` says; refuse (400 naming the client's field) one it has no place for."""
    for name, (value, param) in extras.items():
        target = targets.get(name)
        if target is None:
            raise InvalidRequest(
                f"'{param}' is not supported by the upstream serving this model.",
                param=param,
                code="unsupported_parameter",
            )
        *parents, leaf = target.split(".")
        node = body
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return body
