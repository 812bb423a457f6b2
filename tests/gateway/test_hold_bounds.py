"""What a request holds and what a stream may deliver for it: input we cannot count is held at its documented
worst case (gateway/wire/tokens.py), and streamed output stops where the hold's output runs out (gateway/relay/meter.py),
in the Responses passthrough and in a translating adapter alike, ending `incomplete` as an upstream cut would."""

import json

import msgspec
import pytest

from gateway.protocols.channel import CallContext
from gateway.protocols.chat.channel import OpenAIChatAdapter
from gateway.protocols.responses.channel import OpenAIResponsesAdapter
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder
from gateway.wire.tokens import FILE_TOKENS, IMAGE_TOKENS, count_tokens, uncounted_input_tokens
from tests.upstream.server import answer_chat, answer_responses, chat_chunks, responses_events

LONG = "请把这段话一字不差地复述一遍。" * 20


def parsed(body: dict):
    return parse_request(json.dumps({"model": "m", **body}, ensure_ascii=False).encode())


def extra(body: dict) -> int:
    request = parsed(body)
    return uncounted_input_tokens(request.typed, request.raw)


def test_uncountable_input_is_held_at_the_documented_worst_case(settings):
    settings.HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS = 100_000
    settings.HARNMODEL_FILE_HOLD_TOKENS = 20_000
    settings.HARNMODEL_IMAGE_HOLD_TOKENS = 2_000
    assert extra({"input": "hi"}) == 0
    assert extra({"input": "hi", "previous_response_id": "resp_1"}) == 100_000
    assert extra({"input": "hi", "conversation": "conv_1"}) == 100_000  # forwarded by passthrough channels
    assert extra({"input": [{"type": "item_reference", "id": "msg_1"}], "previous_response_id": "resp_1"}) == 100_000
    file_by_id = {"type": "input_file", "file_id": "file-1"}
    image = {"type": "input_image", "image_url": "https://example.com/a.png"}
    content = [{"type": "input_text", "text": "look"}, file_by_id, image, image]
    assert extra({"input": [{"role": "user", "content": content}]}) == (20_000 - FILE_TOKENS) + 2 * (2_000 - IMAGE_TOKENS)
    tool_result = {"type": "function_call_output", "call_id": "c1", "output": [file_by_id]}
    assert extra({"input": [tool_result]}) == 20_000 - FILE_TOKENS


def _ctx(stream_cap: int) -> CallContext:
    return CallContext(request_id="req_t", response_id="resp_t", public_model="m", upstream_model="up", base_url="",
                       secret="", stream=True, max_output_tokens=stream_cap, created_at=1)


def _responses_frames(text_input: str) -> bytes:
    body = {"model": "up", "input": text_input, "stream": True}  # no cap: the upstream answers in full
    events = responses_events(body, answer_responses(body))
    return b"".join(b"event: " + k.encode() + b"\ndata: " + json.dumps(d, ensure_ascii=False).encode() + b"\n\n"
                    for k, d in events)


def _chat_frames(text_input: str) -> bytes:
    body = {"model": "up", "messages": [{"role": "user", "content": text_input}], "stream": True,
            "stream_options": {"include_usage": True}}
    chunks = chat_chunks(body, answer_chat(body))
    return b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _relay(translator, frames: bytes, piece: int = 97) -> list[tuple[str, dict]]:
    """Feed the upstream's bytes in network-sized pieces as the relay does, cutting where it would."""
    out = b""
    for start in range(0, len(frames), piece):
        out += translator.feed(frames[start:start + piece])
        if translator.meter.spent:
            out += translator.cut()
            break
    else:
        out += translator.close()
    return [(e.event, msgspec.json.decode(e.data)) for e in SSEDecoder().feed(out)]


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
def test_a_stream_that_ignores_the_cap_stops_where_the_hold_runs_out(kind):
    request = parsed({"input": LONG, "stream": True, "max_output_tokens": 20})
    if kind == "openai_responses":
        translator = OpenAIResponsesAdapter().stream_translator(request, _ctx(20))
        frames = _responses_frames(LONG)
    else:
        translator = OpenAIChatAdapter().stream_translator(request, _ctx(20))
        frames = _chat_frames(LONG)
    events = _relay(translator, frames)
    sent = "".join(d.get("delta", "") for k, d in events if k == "response.output_text.delta")
    assert 0 < count_tokens(sent) <= translator.meter.counted <= 20  # never more than the hold pays for
    assert count_tokens(answer_responses({"input": LONG}).text) > 200  # what the upstream would have sent
    kind_, final = events[-1]
    assert kind_ == "response.incomplete" and final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [k for k, _ in events].count("response.incomplete") == 1 and translator.finished


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
def test_a_stream_within_the_cap_is_untouched(kind):
    request = parsed({"input": "你好", "stream": True, "max_output_tokens": 50})
    adapter = OpenAIResponsesAdapter() if kind == "openai_responses" else OpenAIChatAdapter()
    translator = adapter.stream_translator(request, _ctx(50))
    events = _relay(translator, _responses_frames("你好") if kind == "openai_responses" else _chat_frames("你好"))
    assert events[-1][0] == "response.completed" and not translator.meter.spent
    assert "".join(d.get("delta", "") for k, d in events if k == "response.output_text.delta") == "你说：你好"
