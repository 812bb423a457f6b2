"""Extended thinking with tools (wire-formats §6.6, §8.24): a thinking block's signature, and a redacted
block's data, ride in the reasoning item's `encrypted_content` and come back as the same blocks, first in
the assistant turn that made the tool call."""

import json
from typing import Any

import msgspec
from openai.types.responses import Response

from gateway.protocols.anthropic.thinking import REDACTED, SIGNED
from tests.providers.test_anthropic import (
    _EVENT_CLASSES,
    MESSAGE_START,
    adapter,
    event,
    make_ctx,
    openai_client,
    parse,
    sdk_params,
    sse_payloads,
    translate,
)

SIGNATURE = "ErUBCkYIBBgCIkBpQ7tsQherb0Bd0GMS8/9iZq6SBN3FUj1Qf83tHE0z4i6Ex887WpZ=="
REDACTED_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"
THINKING = {"type": "enabled", "budget_tokens": 2048}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
FIRST_TURN = {"model": "hm-claude", "input": "北京天气？", "tools": TOOLS}
TOOL_USE = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "北京"}}


def message(*blocks: dict[str, Any], stop_reason: str = "tool_use") -> bytes:
    return json.dumps(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": list(blocks),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20},
        }
    ).encode()


def reply(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    result = adapter.parse_response(message(*blocks), parse(FIRST_TURN), make_ctx())
    Response.model_validate(result.body)
    return result.body["output"]


def tool_stream(*thinking: bytes) -> bytes:
    """message_start, the given thinking events at indexes 0…, then a tool_use block."""
    index = len([chunk for chunk in thinking if b"content_block_start" in chunk])
    return (
        MESSAGE_START
        + b"".join(thinking)
        + event("content_block_start", index=index, content_block={**TOOL_USE, "input": {}})
        + event(
            "content_block_delta",
            index=index,
            delta={"type": "input_json_delta", "partial_json": '{"city": "北京"}'},
        )
        + event("content_block_stop", index=index)
        + event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 30})
        + event("message_stop")
    )


def signed_thinking(index: int, text: str, signature: str) -> bytes:
    out = event("content_block_start", index=index, content_block={"type": "thinking", "thinking": "", "signature": ""})
    if text:
        out += event("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": text})
    out += event("content_block_delta", index=index, delta={"type": "signature_delta", "signature": signature})
    return out + event("content_block_stop", index=index)


def second_turn(output: list[dict[str, Any]], **ctx: Any) -> dict[str, Any]:
    """The client replays the first turn's output items and answers the call."""
    call_ids = [item["call_id"] for item in output if item["type"] == "function_call"]
    items = [{"role": "user", "content": "北京天气？"}, *output]
    items += [{"type": "function_call_output", "call_id": call_id, "output": "18°C，晴"} for call_id in call_ids]
    request = {"model": "hm-claude", "input": items, "tools": TOOLS}
    upstream = adapter.build_request(parse(request), make_ctx(options={"thinking": THINKING}, **ctx))
    body = msgspec.json.decode(upstream.body)
    assert sdk_params(body) == body  # every block is one the anthropic SDK knows
    return body


# -- responses -----------------------------------------------------------------------------------


def test_signed_thinking_becomes_reasoning_with_encrypted_content() -> None:
    output = reply({"type": "thinking", "thinking": "要查天气。", "signature": SIGNATURE}, TOOL_USE)
    assert [item["type"] for item in output] == ["reasoning", "function_call"]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "要查天气。"}]
    assert output[0]["encrypted_content"] == SIGNED + SIGNATURE


def test_each_thinking_block_keeps_its_own_signature_and_redacted_data() -> None:
    output = reply(
        {"type": "thinking", "thinking": "一", "signature": "c2lnMQ=="},
        {"type": "redacted_thinking", "data": REDACTED_DATA},
        {"type": "thinking", "thinking": "", "signature": "c2lnMw=="},
        TOOL_USE,
    )
    assert [(item["type"], item.get("encrypted_content")) for item in output] == [
        ("reasoning", SIGNED + "c2lnMQ=="),
        ("reasoning", REDACTED + REDACTED_DATA),
        ("reasoning", SIGNED + "c2lnMw=="),
        ("function_call", None),
    ]
    assert output[1]["summary"] == output[2]["summary"] == []


def test_stream_carries_the_signature_into_item_done_and_the_final_response() -> None:
    _, out = translate(tool_stream(signed_thinking(0, "要查天气。", SIGNATURE)), request={**FIRST_TURN, "stream": True})
    payloads = sse_payloads(out)
    for payload in payloads:
        _EVENT_CLASSES[payload["type"]].model_validate(payload)
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert done[0]["type"] == "reasoning" and done[0]["encrypted_content"] == SIGNED + SIGNATURE
    final = payloads[-1]["response"]
    assert final["status"] == "completed"
    assert [item.get("encrypted_content") for item in final["output"]] == [SIGNED + SIGNATURE, None]


def test_stream_with_signature_and_redacted_thinking_parses_with_the_openai_sdk() -> None:
    data = tool_stream(
        signed_thinking(0, "要查天气。", SIGNATURE),
        event("content_block_start", index=1, content_block={"type": "redacted_thinking", "data": REDACTED_DATA}),
        event("content_block_stop", index=1),
        signed_thinking(2, "", "c2lnMw=="),  # a signed block with no text still gets an item
    )
    _, out = translate(data, request={**FIRST_TURN, "stream": True})
    with openai_client(out, "text/event-stream").responses.stream(model="hm-claude", input="x") as stream:
        list(stream)
        final = stream.get_final_response()
    assert [(item.type, getattr(item, "encrypted_content", None)) for item in final.output] == [
        ("reasoning", SIGNED + SIGNATURE),
        ("reasoning", REDACTED + REDACTED_DATA),
        ("reasoning", SIGNED + "c2lnMw=="),
        ("function_call", None),
    ]


def test_stream_fed_byte_by_byte_keeps_the_signature() -> None:
    data = tool_stream(signed_thinking(0, "要查天气。", SIGNATURE))
    _, whole = translate(data, request={**FIRST_TURN, "stream": True})
    _, bytewise = translate(data, chunk_size=1, request={**FIRST_TURN, "stream": True})
    final = sse_payloads(bytewise)[-1]["response"]
    assert final["output"][0]["encrypted_content"] == SIGNED + SIGNATURE
    assert len(sse_payloads(whole)) == len(sse_payloads(bytewise))


# -- requests ------------------------------------------------------------------------------------


def test_second_turn_replays_thinking_before_tool_use() -> None:
    output = reply({"type": "thinking", "thinking": "要查天气。", "signature": SIGNATURE}, TOOL_USE)
    body = second_turn(output)
    assert body["thinking"] == THINKING
    assert body["messages"] == [
        {"role": "user", "content": "北京天气？"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "要查天气。", "signature": SIGNATURE}, TOOL_USE],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C，晴"}]},
    ]


def test_second_turn_after_a_stream_replays_the_same_blocks() -> None:
    data = tool_stream(
        signed_thinking(0, "要查天气。", SIGNATURE),
        event("content_block_start", index=1, content_block={"type": "redacted_thinking", "data": REDACTED_DATA}),
        event("content_block_stop", index=1),
    )
    _, out = translate(data, request={**FIRST_TURN, "stream": True})
    output = sse_payloads(out)[-1]["response"]["output"]
    body = second_turn(output)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "要查天气。", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED_DATA},
        TOOL_USE,
    ]


def test_redacted_thinking_round_trip() -> None:
    output = reply({"type": "redacted_thinking", "data": REDACTED_DATA}, TOOL_USE)
    assert output[0]["encrypted_content"] == REDACTED + REDACTED_DATA
    body = second_turn(output)
    assert body["messages"][1]["content"] == [{"type": "redacted_thinking", "data": REDACTED_DATA}, TOOL_USE]


def test_thinking_goes_first_even_after_assistant_text() -> None:
    items = [
        {"role": "user", "content": "北京天气？"},
        {
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "想"}],
            "encrypted_content": SIGNED + "c2ln",
        },
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "我查一下。"}]},
        {"type": "function_call", "call_id": "toolu_01A", "name": "get_weather", "arguments": '{"city": "北京"}'},
        {"type": "function_call_output", "call_id": "toolu_01A", "output": "晴"},
    ]
    upstream = adapter.build_request(parse({"model": "hm-claude", "input": items, "tools": TOOLS}), make_ctx())
    assert msgspec.json.decode(upstream.body)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "想", "signature": "c2ln"},
        {"type": "text", "text": "我查一下。"},
        TOOL_USE,
    ]


def test_reasoning_without_our_encrypted_content_is_dropped() -> None:
    items = [
        {"role": "user", "content": "北京天气？"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "无签名"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAABoOpenAIsOwnBlob"},  # another upstream's
        {"type": "function_call", "call_id": "toolu_01A", "name": "get_weather", "arguments": '{"city": "北京"}'},
        {"type": "function_call_output", "call_id": "toolu_01A", "output": "晴"},
        # signed, but its turn has no call: Anthropic does not need it back
        {"type": "reasoning", "summary": [], "encrypted_content": SIGNED + "c2ln"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "晴天。"}]},
        {"role": "user", "content": "谢谢"},
    ]
    upstream = adapter.build_request(parse({"model": "hm-claude", "input": items, "tools": TOOLS}), make_ctx())
    assert msgspec.json.decode(upstream.body)["messages"] == [
        {"role": "user", "content": "北京天气？"},
        {"role": "assistant", "content": [TOOL_USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "晴"}]},
        {"role": "assistant", "content": "晴天。"},
        {"role": "user", "content": "谢谢"},
    ]
