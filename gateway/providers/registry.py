"""The only dispatch on provider kind. Adapters are imported lazily by dotted path."""

from functools import cache
from importlib import import_module

from gateway.providers.base import Adapter

ADAPTERS: dict[str, str] = {
    "openai_responses": "gateway.providers.openai_responses.OpenAIResponsesAdapter",
    "openai_chat": "gateway.providers.openai_chat.OpenAIChatAdapter",
    "anthropic": "gateway.providers.anthropic.AnthropicAdapter",
    "gemini": "gateway.providers.gemini.GeminiAdapter",
    "simulator": "gateway.providers.simulator.SimulatorAdapter",
}


@cache
def get_adapter(kind: str) -> Adapter:
    try:
        dotted = ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}") from None
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)()


def provider_choices() -> list[tuple[str, str]]:
    return [(kind, kind) for kind in ADAPTERS]
