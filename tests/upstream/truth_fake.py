"""OpenAI Responses upstreams for the truth score, several "channels" on one real HTTP server.

`http://127.0.0.1:<port>/<name>/v1/responses` answers as the channel was set up with `serve(name, persona,
inflate)`: persona "a" is the real model, "b" a substitute that words things its own way, calls the
weather tool with other arguments and breaks the JSON schema; `inflate` multiplies the input tokens it
reports (1.2 = 20 % more than it read). Input tokens are counted the way OpenAI documents its chat
accounting (3 per message, 1 per role, 3 priming the reply) with the o200k vocabulary, written here
apart from the gateway's counter. JSON answers only (no streams). Every request is recorded.
"""

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import bpe_openai
from aiohttp import web

from tests.upstream.threaded import ThreadedServer

_o200k = bpe_openai.get_encoding("o200k_base")

ANSWERS: dict[str, dict[str, Any]] = {
    "a": {
        "short": "A lighthouse guides ships safely past dangerous coasts at night.",
        "call": {"city": "Paris", "unit": "celsius"},
        "after_tool": "It is 18 °C and cloudy in Paris.",
        "schema": {"capital": "Paris", "letters": 5},
    },
    "b": {
        "short": "It warns sailors.",
        "call": {"city": "Paris, France", "unit": "celsius"},
        "after_tool": "Paris: eighteen degrees, clouds.",
        "schema": {"capital": "Paris", "letters": "five"},
    },
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content or () if isinstance(p, dict))


def input_tokens(body: dict) -> int:
    messages = [body["instructions"]] if body.get("instructions") else []
    items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_text(item.get("content")))
        elif kind == "function_call":
            messages.append(item.get("name", "") + item.get("arguments", ""))
        elif kind == "function_call_output":
            messages.append(_text(item.get("output")))
    return 3 + sum(3 + 1 + len(_o200k.encode(m)) for m in messages)


@dataclass
class Channel:
    persona: str = "a"
    inflate: float = 1.0
    requests: list[dict] = field(default_factory=list)


class TruthUpstream(ThreadedServer):
    host = "127.0.0.1"
    thread_name = "truth-upstream"

    def __init__(self) -> None:
        self.port = 0
        self.channels: dict[str, Channel] = {}

    def serve(self, name: str, persona: str = "a", inflate: float = 1.0) -> str:
        self.channels[name] = Channel(persona, inflate)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{name}/v1/responses", self.responses)
        return app

    def answer(self, persona: str, body: dict) -> list[dict]:
        said = ANSWERS[persona]
        items = body["input"] if isinstance(body["input"], list) else []
        if items and items[-1].get("type") == "function_call_output":
            return [_message(said["after_tool"])]
        if body.get("tools") and body.get("tool_choice") != "none":
            return [{"type": "function_call", "id": "fc_" + secrets.token_hex(6), "call_id": "call_" + secrets.token_hex(6),
                     "name": "get_weather", "arguments": json.dumps(said["call"]), "status": "completed"}]  # fmt: skip
        if ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
            return [_message(json.dumps(said["schema"]))]
        if body["input"] == "In one short sentence, what is a lighthouse for?":
            return [_message(said["short"])]
        return [_message("ok")]

    async def responses(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["name"])
        if channel is None:
            return web.json_response({"error": {"message": "no such channel"}}, status=404)
        body = await request.json()
        channel.requests.append(body)
        counted = input_tokens(body)
        reported = round(counted * channel.inflate)
        output = self.answer(channel.persona, body)
        return web.json_response({
            "id": "resp_" + secrets.token_hex(12), "object": "response", "created_at": 0, "status": "completed",
            "model": body.get("model"), "output": output,
            "usage": {"input_tokens": reported, "output_tokens": 5, "total_tokens": reported + 5,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        })  # fmt: skip


def _message(text: str) -> dict:
    return {"type": "message", "id": "msg_" + secrets.token_hex(6), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip
