"""The Gemini door: refusals, call ids, usage, signatures, errors and keys; the translations themselves are pinned
by golden files (test_gemini_golden.py)."""

import msgspec
import pytest
from google.genai import errors as genai_errors
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocols.gemini.channel_request import signed_call_id
from gateway.protocols.gemini.door import GeminiDoor, split_model_path
from gateway.protocols.gemini.render import api_key, error_body, generate_content_response, models_list
from gateway.wire.errors import ApiError, InsufficientBalance, InvalidRequest, ModelNotFound
from gateway.wire.schema import parse_request

from .gemini_support import builder, events, parse_golden, sdk_client, terminal_response

DOOR = GeminiDoor()
SIGNATURE = "c2lnbmF0dXJlLWJ5dGVz"  # base64 of b"signature-bytes"


def parse(body, path="gemini-2.5-flash:generateContent", query=None):
    return DOOR.parse(body, path_model=path, query=query or {})


def test_a_calls_thought_signature_rides_in_its_call_id():
    """requests/two_turn_tools.json: the signature travels in the id, as on the channel side."""
    request = parse_golden("two_turn_tools")
    call, output = request.body["input"][2:]
    base = call["call_id"].split("__ts_")[0]
    assert call["call_id"] == signed_call_id(base, SIGNATURE)
    assert output == {"type": "function_call_output", "call_id": call["call_id"], "output": "晴"}


def test_call_ids_are_stable_and_ids_match_responses_by_id():
    """requests/call_ids.json: the same history always yields the same ids; an answer with an id takes its call."""
    first, second = parse_golden("call_ids").body, parse_golden("call_ids").body
    assert first == second
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


def test_usage_metadata_counts_cached_and_thought_tokens():
    """streams/text.events.json: 12 in (4 cached), 9 out of which 3 reasoning."""
    body = generate_content_response(terminal_response("text"), "gemini-2.5-flash")
    usage = types.GenerateContentResponse.model_validate(body).usage_metadata
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (12, 4)
    assert (usage.candidates_token_count, usage.thoughts_token_count, usage.total_token_count) == (6, 3, 21)


def test_function_call_answer_restores_the_signature_for_the_next_turn():
    """streams/tool_call.events.json: the client replays the part as it got it, and the same call_id comes back."""
    response = terminal_response("tool_call")
    [call_id] = [item["call_id"] for item in response["output"] if item["type"] == "function_call"]
    body = generate_content_response(response, "gemini-2.5-flash")
    text, call = body["candidates"][0]["content"]["parts"]
    assert call["thoughtSignature"] == SIGNATURE and call["functionCall"]["args"] == {"city": "上海"}
    reply = {
        "functionResponse": {"name": "get_weather", "id": call["functionCall"]["id"], "response": {"output": "晴"}}
    }
    replay = {"contents": [{"parts": [{"text": "q"}]}, {"role": "model", "parts": [text, call]}, {"parts": [reply]}]}
    items = parse(replay).body["input"]
    assert items[2]["call_id"] == call_id and items[3]["call_id"] == call_id


def test_incomplete_answer_says_max_tokens():
    body = generate_content_response(terminal_response("incomplete"), "m")
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_stream_never_holds_text_back():
    from gateway.protocols.gemini.stream import GeminiStreamRenderer

    b = builder()
    renderer = GeminiStreamRenderer("m", sse=True)
    for kind, data in events(b.start()):
        renderer.feed(kind, data)
    out = b"".join(renderer.feed(kind, data) for kind, data in events(b.text_delta("字")))
    assert "字".encode() in out


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
