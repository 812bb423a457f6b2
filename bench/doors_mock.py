"""A static nginx mock that speaks all four upstream protocols, for the door benchmark (bench/doors.py).

The shared harness's nginx mock speaks OpenAI only. This writes one nginx.conf that serves the harness's
OpenAI bodies (passed in: `fixtures.bodies()`) plus Anthropic Messages and Gemini bodies built here, with the
same 50-token text and the same 12 prompt tokens, so every door relays an answer of the same size.

nginx cannot branch on the body, so stream answers live under /stream (as in the harness):
  POST /v1/messages, /stream/v1/messages                          Message JSON / Messages event stream
  POST /v1beta/models/gpt-4o:generateContent                      GenerateContentResponse JSON
  POST /stream/v1beta/models/gpt-4o:streamGenerateContent         `data:` SSE chunks (the query is ignored)
Stdlib only; bodies must not contain '$' (nginx variables).
"""

import importlib.util
import json
from pathlib import Path


def _load_head():
    # by path: this file is itself loaded by path (bench/doors.py, tests/bench), with bench/ not on sys.path
    spec = importlib.util.spec_from_file_location("bench_nginx_head", Path(__file__).with_name("nginx_head.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.head


head = _load_head()

MODEL = "gpt-4o"  # the upstream model name bench/provision.py gives every channel
PROMPT_TOKENS = 12
WORDS = ("The quick brown fox jumps over the lazy dog while the gateway relays "
         "every token without adding noticeable latency to the stream of text").split()


def tokens(n: int) -> list[str]:
    return [("" if i == 0 else " ") + WORDS[i % len(WORDS)] for i in range(n)]


def _dump(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def anthropic_message(n: int) -> dict:
    return {"id": "msg_bench0001", "type": "message", "role": "assistant", "model": "claude-bench",
            "content": [{"type": "text", "text": "".join(tokens(n))}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": n, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


def anthropic_stream(n: int) -> str:
    """message_start, ping, one text block of n deltas, message_delta (usage), message_stop."""
    message = anthropic_message(n)
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": t}}) for t in tokens(n)]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": n}}),
               ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {name}\ndata: {_dump(data)}\n\n" for name, data in events)


def _usage_metadata(n: int) -> dict:
    return {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": n, "totalTokenCount": PROMPT_TOKENS + n}


def gemini_response(n: int) -> dict:
    candidate = {"content": {"role": "model", "parts": [{"text": "".join(tokens(n))}]}, "finishReason": "STOP",
                 "index": 0}
    return {"candidates": [candidate], "usageMetadata": _usage_metadata(n), "modelVersion": "gemini-bench",
            "responseId": "bench0001"}


def gemini_stream(n: int) -> str:
    """`alt=sse`: one `data:` chunk per token; the last carries finishReason and usageMetadata."""
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}],
               "usageMetadata": {"promptTokenCount": PROMPT_TOKENS}, "modelVersion": "gemini-bench"}
              for t in tokens(n)]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = _usage_metadata(n)
    return "".join(f"data: {_dump(chunk)}\r\n\r\n" for chunk in chunks)


def bodies(openai: dict[str, tuple[str, str]], n: int) -> dict[str, tuple[str, str]]:
    """path → (content type, body): the harness's OpenAI bodies plus the Anthropic and Gemini ones."""
    out = dict(openai)
    out["/v1/messages"] = ("application/json", _dump(anthropic_message(n)))
    out["/stream/v1/messages"] = ("text/event-stream", anthropic_stream(n))
    out[f"/v1beta/models/{MODEL}:generateContent"] = ("application/json", _dump(gemini_response(n)))
    out[f"/stream/v1beta/models/{MODEL}:streamGenerateContent"] = ("text/event-stream", gemini_stream(n))
    return out


def nginx_conf(prefix: Path, port: int, served: dict[str, tuple[str, str]]) -> str:
    """Every body as a file; POST to the static handler is a 405 that `error_page 405 =200` turns into the file."""
    html = prefix / "html"
    html.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(exist_ok=True)
    locations = []
    for number, (path, (ctype, body)) in enumerate(sorted(served.items())):
        if "$" in body:
            raise ValueError(f"{path}: bodies must not contain '$'")
        name = f"body{number}"  # ':' in Gemini paths is no file name for every filesystem
        (html / name).write_bytes(body.encode())  # byte-exact: Gemini frames end in \r\n
        locations.append(f"        location = {path} {{ default_type {ctype}; alias {html}/{name}; "
                         f"error_page 405 =200 {path}; }}")
    return head(prefix, "sendfile on;") + f"""    client_max_body_size 16m;
    client_body_buffer_size 1m;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
{chr(10).join(locations)}
        location / {{ default_type application/json; return 404 '{{"error":{{"message":"mock: unknown path"}}}}'; }}
    }}
}}
"""
