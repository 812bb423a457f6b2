"""The doors' contract (issue 15): every client door × every channel kind, through the real server with the
door's official SDK. A two-turn tool round trip (the call as the SDK returned it and its output replayed on
turn two), an image, and Chinese + emoji byte-exact both ways — what the upstream received and what the
client got — each billed exactly once, on the door that served it."""

import base64
import json

import pytest
from google.genai import types

from tests.e2e.test_contract import GEMINI_CALL, SIGNATURE

from .conftest import serve, upstream_bodies
from .test_doors_sdk import TEXT, anthropic_client, billed, gemini_client, openai_client

pytestmark = pytest.mark.django_db(transaction=True)
KINDS = ["simulator", "openai_responses", "openai_chat", "anthropic", "gemini"]
UPSTREAMS = KINDS[1:]  # the kinds with a real HTTP upstream to compare bytes against
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL_OUTPUT = json.dumps({"temp_c": 18})
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
ECHO = "你说：" + TEXT  # what every fake upstream answers: the last user text, byte for byte


def _sent(kind, fakes) -> list[str]:
    """Each upstream request body as text (non-ASCII kept), to find what the client sent in it."""
    return [json.dumps(body, ensure_ascii=False) for body in upstream_bodies(kind, fakes)]


def _check_second_turn(kind, fakes, call_id: str) -> None:
    if kind == "simulator":
        return
    first, second = _sent(kind, fakes)
    assert "getWeather" in first and TEXT in first
    assert "temp_c" in second and "getWeather" in second  # the call and its output went back up
    if kind != "gemini":  # Gemini pairs calls by name and order; every other kind by the id
        assert call_id.split("__ts_")[0] in second or call_id in second, (call_id, second)
    if kind == "gemini":  # the thought signature rides back on the replayed functionCall part
        parts = [part for content in upstream_bodies(kind, fakes)[1]["contents"] for part in content["parts"]]
        [replayed] = [part for part in parts if "functionCall" in part]
        # A Gemini channel gets the client's own body (same-protocol passthrough): google-genai writes the
        # signature's bytes URL-safe, which Gemini reads like the standard alphabet.
        assert replayed["thoughtSignature"].replace("-", "+").replace("_", "/") == SIGNATURE


@pytest.mark.parametrize("kind", KINDS)
def test_chat_door_tool_round_trip(gateway, alice, fakes, kind):
    serve(kind, fakes)
    if kind == "gemini":
        fakes["gemini"].reply(GEMINI_CALL)  # the Gemini mock only echoes text
    client = openai_client(gateway, alice.key)
    tools = [{"type": "function", "function": {"name": "getWeather", "description": "Weather.", "parameters": SCHEMA}}]
    messages = [{"role": "user", "content": TEXT}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools,
                                           tool_choice={"type": "function", "function": {"name": "getWeather"}})
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "getWeather" and isinstance(json.loads(call.function.arguments), dict)
    second = client.chat.completions.create(model="gpt-4o", tools=tools, messages=[
        *messages, choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_OUTPUT}])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    assert not second.choices[0].message.tool_calls
    if kind in ("openai_responses", "openai_chat"):
        assert second.choices[0].message.content == "工具返回：" + TOOL_OUTPUT
    _check_second_turn(kind, fakes, call.id)
    billed("chat", alice.account, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_messages_door_tool_round_trip(gateway, alice, fakes, kind):
    serve(kind, fakes)
    if kind == "gemini":
        fakes["gemini"].reply(GEMINI_CALL)
    client = anthropic_client(gateway, alice.key)
    tools = [{"name": "getWeather", "description": "Weather.", "input_schema": SCHEMA}]
    messages = [{"role": "user", "content": TEXT}]
    first = client.messages.create(model="gpt-4o", max_tokens=200, messages=messages, tools=tools,
                                   tool_choice={"type": "tool", "name": "getWeather"})
    assert first.stop_reason == "tool_use"
    [use] = [block for block in first.content if block.type == "tool_use"]
    assert use.name == "getWeather" and isinstance(use.input, dict)
    with client.messages.stream(model="gpt-4o", max_tokens=200, tools=tools, messages=[
        *messages, {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_OUTPUT}]},
    ]) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed and final.stop_reason == "end_turn" and final.content[0].text == streamed
    if kind in ("openai_responses", "openai_chat"):
        assert streamed == "工具返回：" + TOOL_OUTPUT
    _check_second_turn(kind, fakes, use.id)
    billed("messages", alice.account, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_gemini_door_tool_round_trip(gateway, alice, fakes, kind):
    serve(kind, fakes)
    if kind == "gemini":
        fakes["gemini"].reply(GEMINI_CALL)
    client = gemini_client(gateway, alice.key)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
            name="getWeather", description="Weather.", parameters_json_schema=SCHEMA)])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["getWeather"])),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    turn = types.Content(role="user", parts=[types.Part(text=TEXT)])
    first = client.models.generate_content(model="gpt-4o", contents=[turn], config=config)
    [call] = first.function_calls
    assert call.name == "getWeather" and isinstance(call.args, dict)
    reply = types.Part.from_function_response(name=call.name, response=json.loads(TOOL_OUTPUT))
    if call.id:
        reply.function_response.id = call.id
    config.tool_config = None
    pieces = list(client.models.generate_content_stream(model="gpt-4o", config=config, contents=[
        turn, first.candidates[0].content, types.Content(role="user", parts=[reply])]))
    text = "".join(piece.text or "" for piece in pieces)
    assert text and not any(piece.function_calls for piece in pieces)
    assert pieces[-1].usage_metadata.candidates_token_count > 0
    _check_second_turn(kind, fakes, call.id or "")
    billed("gemini", alice.account, 2)


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_chat_door_image_and_unicode_byte_exact(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = openai_client(gateway, alice.key)
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
        {"type": "text", "text": TEXT}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert answer.choices[0].message.content == ECHO
    chunks = client.chat.completions.create(model="gpt-4o", stream=True, messages=[{"role": "user", "content": TEXT}])
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
    [with_image, streamed] = _sent(kind, fakes)
    assert TEXT in with_image and PNG in with_image and TEXT in streamed
    billed("chat", alice.account, 2)


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_messages_door_image_and_unicode_byte_exact(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = anthropic_client(gateway, alice.key)
    answer = client.messages.create(model="gpt-4o", max_tokens=200, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": TEXT}]}])
    assert answer.content[0].text == ECHO
    with client.messages.stream(model="gpt-4o", max_tokens=200, messages=[{"role": "user", "content": TEXT}]) as s:
        assert "".join(s.text_stream) == ECHO
    [with_image, streamed] = _sent(kind, fakes)
    assert TEXT in with_image and PNG in with_image and TEXT in streamed
    billed("messages", alice.account, 2)


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_gemini_door_image_and_unicode_byte_exact(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = gemini_client(gateway, alice.key)
    image = types.Part.from_bytes(data=base64.b64decode(PNG), mime_type="image/png")
    answer = client.models.generate_content(model="gpt-4o", contents=[image, TEXT])
    assert answer.text == ECHO
    pieces = list(client.models.generate_content_stream(model="gpt-4o", contents=TEXT))
    assert "".join(piece.text or "" for piece in pieces) == ECHO
    [with_image, streamed] = _sent(kind, fakes)
    if kind == "gemini":  # the client's own body goes up: google-genai writes the bytes URL-safe
        with_image = with_image.replace("-", "+").replace("_", "/")
    assert TEXT in with_image and PNG in with_image and TEXT in streamed
    billed("gemini", alice.account, 2)
