"""The Gemini door: request → internal form, answers and streams → Gemini shapes, checked by google-genai."""

import json

import msgspec
import pytest
from google.genai import errors as genai_errors
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing import Usage
from gateway.protocols.gemini.channel_request import signed_call_id
from gateway.protocols.gemini.door import GeminiDoor, split_model_path
from gateway.protocols.gemini.render import api_key, error_body, generate_content_response, models_list
from gateway.wire.errors import ApiError, InsufficientBalance, InvalidRequest, ModelNotFound
from gateway.wire.schema import parse_request

from .gemini_support import builder, events, render, sdk_client, text_answer

DOOR = GeminiDoor()
SIGNATURE = "c2lnbmF0dXJlLWJ5dGVz"  # base64 of b"signature-bytes"
TEXT = "你好，世界 👋🏽 — ok"


def parse(body, path="gemini-2.5-flash:generateContent", query=None):
    return DOOR.parse(body, path_model=path, query=query or {})


def test_two_turn_tool_conversation_maps_to_responses_and_validates():
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in 中文."}]},
        "contents": [
            {"role": "user", "parts": [{"text": TEXT}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]},
            {
                "role": "model",
                "parts": [
                    {"text": "thinking…", "thought": True},
                    {"text": "Let me look."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "上海"}}, "thoughtSignature": SIGNATURE},
                ],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "晴"}}}]},
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING", "nullable": True}},
                            "required": ["city"],
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 64,
            "topK": 40,
            "stopSequences": ["END"],
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048},
        },
    }
    request = parse(body)
    internal = request.body
    assert request.model == "gemini-2.5-flash" and request.stream is False
    assert internal["instructions"] == "Be brief.\nAnswer in 中文."
    user, assistant, call, output = internal["input"]
    assert user == {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": TEXT},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"},
        ],
    }
    assert assistant == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Let me look."}],
    }
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "上海"}
    base = call["call_id"].split("__ts_")[0]
    assert call["call_id"] == signed_call_id(base, SIGNATURE)  # the signature rides in the id, as on the channel side
    assert output == {"type": "function_call_output", "call_id": call["call_id"], "output": "晴"}
    assert internal["tools"][0]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": ["string", "null"]}},
        "required": ["city"],
    }
    assert internal["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert internal["max_output_tokens"] == 64 and internal["top_p"] == 0.9
    assert internal["reasoning"] == {"summary": "auto", "effort": "medium"}
    assert request.extras["topK"] == 40 and request.extras["stopSequences"] == ["END"]
    parse_request(msgspec.json.encode(internal))  # the internal form passes the /v1/responses validator


def test_call_ids_are_stable_and_ids_match_responses_by_id():
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "f", "args": {}, "id": "abc"}},
                    {"functionCall": {"name": "f", "args": {"n": 2}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "f", "response": {"x": 1}}},
                    {"functionResponse": {"name": "f", "id": "abc", "response": {"output": "one"}}},
                ],
            },
        ]
    }
    first, second = parse(body).body, parse(body).body
    assert first == second  # the same history always yields the same ids
    calls = [item for item in first["input"] if item["type"] == "function_call"]
    outputs = [item for item in first["input"] if item["type"] == "function_call_output"]
    assert calls[0]["call_id"] == "abc"
    assert outputs[0]["call_id"] == calls[1]["call_id"] and outputs[0]["output"] == '{"x":1}'
    assert outputs[1] == {"type": "function_call_output", "call_id": "abc", "output": "one"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"contents": [{"parts": [{"text": "x"}]}], "cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 2}},
            "generationConfig.candidateCount",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseLogprobs": True}},
            "generationConfig.responseLogprobs",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseModalities": ["IMAGE"]}},
            "generationConfig.responseModalities",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "surprise": 1}, "surprise"),
        ({"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}, "contents[0].parts[0].executableCode"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": []}, "contents"),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse.name",
        ),
        (
            {"contents": [{"parts": [{"fileData": {"fileUri": "gs://bucket/x"}}]}]},
            "contents[0].parts[0].fileData.fileUri",
        ),
    ],
)
def test_what_cannot_be_carried_is_refused_by_name(body, param):
    with pytest.raises(InvalidRequest) as caught:
        parse(body)
    assert caught.value.param == param and caught.value.status == 400


def test_model_path_forms():
    assert split_model_path("models/gemini-2.5-pro:streamGenerateContent") == ("gemini-2.5-pro", True)
    assert split_model_path("gemini-2.5-pro:generateContent") == ("gemini-2.5-pro", False)
    for bad in ("gemini:embedContent", "tunedModels/x:generateContent", "x" * 300 + ":generateContent", "nope"):
        with pytest.raises(InvalidRequest):
            split_model_path(bad)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "contents",
                    "parts",
                    "role",
                    "text",
                    "functionCall",
                    "functionResponse",
                    "name",
                    "args",
                    "response",
                    "id",
                    "inlineData",
                    "mimeType",
                    "data",
                    "tools",
                    "functionDeclarations",
                    "generationConfig",
                    "toolConfig",
                    "systemInstruction",
                    "thinkingConfig",
                    "user",
                    "model",
                    "thoughtSignature",
                    "parameters",
                    "type",
                    "fileData",
                    "fileUri",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["contents", "tools", "toolConfig", "generationConfig", "systemInstruction"]), _json, max_size=5
    )
)
def test_hostile_bodies_raise_only_api_errors(body):
    try:
        request = parse(body)
    except ApiError:
        return
    try:  # what the door lets through must be valid input for the pipeline, or a clean 400 there
        parse_request(msgspec.json.encode(request.body))
    except ApiError:
        pass


def test_json_answer_is_a_valid_generate_content_response():
    _, final = text_answer(
        ["你好，", "世界 👋🏽"], Usage(input_tokens=12, cached_input_tokens=4, output_tokens=9, reasoning_tokens=3)
    )
    body = generate_content_response(final, "gemini-2.5-flash")
    parsed = types.GenerateContentResponse.model_validate(body)
    assert parsed.text == "你好，世界 👋🏽"
    assert parsed.candidates[0].finish_reason == types.FinishReason.STOP
    usage = parsed.usage_metadata
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (12, 4)
    assert (usage.candidates_token_count, usage.thoughts_token_count, usage.total_token_count) == (6, 3, 21)


def test_function_call_answer_restores_the_signature_for_the_next_turn():
    b = builder()
    call_id = signed_call_id("call_" + "a" * 24, SIGNATURE)
    b.start()
    b.tool_call_start(call_id=call_id, name="get_weather")
    b.tool_call_arguments('{"city": "上海"}')
    b.finish(usage=Usage(input_tokens=5, output_tokens=2))
    body = generate_content_response(b.final_object(), "gemini-2.5-flash")
    part = types.GenerateContentResponse.model_validate(body).candidates[0].content.parts[0]
    assert part.function_call.name == "get_weather" and part.function_call.args == {"city": "上海"}
    # the client replays the part as it got it: the same call_id comes back into the internal form
    replay = {
        "contents": [
            {"parts": [{"text": "q"}]},
            {"role": "model", "parts": [body["candidates"][0]["content"]["parts"][0]]},
            {
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "id": part.function_call.id,
                            "response": {"output": "晴"},
                        }
                    }
                ]
            },
        ]
    }
    items = parse(replay).body["input"]
    assert items[1]["call_id"] == call_id and items[2]["call_id"] == call_id


def test_incomplete_answer_says_max_tokens():
    _, final = text_answer(["abc"], Usage(input_tokens=1, output_tokens=3), incomplete="max_output_tokens")
    body = generate_content_response(final, "m")
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"


@pytest.mark.parametrize("sse", [True, False])
def test_stream_through_the_sdk_reassembles_text_and_usage(sse):
    sse_events, _ = text_answer(["你好，", "世界", " 👋🏽"], Usage(input_tokens=7, output_tokens=5))
    wire = render(sse_events, sse=sse)
    if not sse:
        chunks = json.loads(wire)  # the array form is one JSON document
        assert chunks[-1]["usageMetadata"]["promptTokenCount"] == 7
        return
    assert b"[DONE]" not in wire and b"event:" not in wire
    client = sdk_client(wire)
    pieces = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert "".join(piece.text or "" for piece in pieces) == "你好，世界 👋🏽"
    assert pieces[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert pieces[-1].usage_metadata.prompt_token_count == 7
    assert pieces[-1].usage_metadata.candidates_token_count == 5
    assert "alt=sse" in str(client.seen[0].url)


def test_stream_never_holds_text_back():
    from gateway.protocols.gemini.stream import GeminiStreamRenderer

    b = builder()
    renderer = GeminiStreamRenderer("m", sse=True)
    for kind, data in events(b.start()):
        renderer.feed(kind, data)
    out = b"".join(renderer.feed(kind, data) for kind, data in events(b.text_delta("字")))
    assert "字".encode() in out


def test_failed_stream_ends_with_a_google_error_the_sdk_raises():
    b = builder()
    wire_events = b.start() + b.text_delta("partial") + b.fail(message="upstream broke")
    wire = render(wire_events, sse=True)
    client = sdk_client(wire)
    with pytest.raises(genai_errors.APIError) as caught:
        list(client.models.generate_content_stream(model="m", contents="hi"))
    assert "upstream broke" in str(caught.value)


@pytest.mark.parametrize(
    ("error", "status", "name"),
    [
        (InvalidRequest("bad", param="contents"), 400, "INVALID_ARGUMENT"),
        (InsufficientBalance("top up"), 402, "RESOURCE_EXHAUSTED"),
        (ModelNotFound("no model"), 404, "NOT_FOUND"),
        (ApiError("slow down", status=429, code="rate_limit_exceeded"), 429, "RESOURCE_EXHAUSTED"),
        (ApiError("down", status=503, code="model_not_available"), 503, "UNAVAILABLE"),
    ],
)
def test_errors_in_googles_shape_raise_in_the_sdk(error, status, name):
    body = error_body(error)
    assert body["error"]["code"] == status and body["error"]["status"] == name
    client = sdk_client(msgspec.json.encode(body), status=status, content_type="application/json")
    with pytest.raises(genai_errors.APIError) as caught:
        client.models.generate_content(model="m", contents="hi")
    assert caught.value.code == status and caught.value.status == name


def test_models_list_and_key_sources():
    listed = models_list(["gemini-2.5-flash"])
    assert listed["models"][0]["name"] == "models/gemini-2.5-flash"
    client = sdk_client(msgspec.json.encode(listed), content_type="application/json")
    models = list(client.models.list())
    assert [model.name for model in models] == ["models/gemini-2.5-flash"]
    assert "generateContent" in models[0].supported_actions
    assert api_key({"x-goog-api-key": "sk-a"}, {}) == "sk-a"
    assert api_key({}, {"key": "sk-b"}) == "sk-b"
    assert api_key({"authorization": "Bearer sk-c"}, {}) == "sk-c"
    assert api_key({}, {}) is None
