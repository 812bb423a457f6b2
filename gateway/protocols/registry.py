"""The only dispatch on provider kind. Adapters are imported lazily by dotted path."""

from functools import cache
from importlib import import_module

from gateway.protocols.channel import Adapter

ADAPTERS: dict[str, str] = {
    "openai_responses": "gateway.protocols.responses.channel.OpenAIResponsesAdapter",
    "openai_chat": "gateway.protocols.chat.channel.OpenAIChatAdapter",
    "anthropic": "gateway.protocols.anthropic.channel.AnthropicAdapter",
    "gemini": "gateway.protocols.gemini.channel.GeminiAdapter",
    "simulator": "gateway.protocols.simulator.channel.SimulatorAdapter",
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
