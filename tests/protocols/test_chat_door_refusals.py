"""What the Chat Completions door refuses, by name, and hostile bodies that must end as a 400."""

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.protocols.channel import CallContext
from gateway.protocols.chat.channel_request import chat_body
from gateway.protocols.chat.door import ChatDoor
from gateway.protocols.chat.door_request import _SAME
from gateway.wire.errors import ApiError, InvalidRequest
from gateway.wire.schema import parse_request

door = ChatDoor()
BASE: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hi"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body.update(changes)
    return body


def _msg(message: dict[str, Any]) -> dict[str, Any]:
    return _with(messages=[message])


UNSUPPORTED = "unsupported_parameter"
CASES = [
    # (body, param, code) — code None: any code
    (_with(n=2), "n", UNSUPPORTED),
    (_with(logprobs=True), "logprobs", UNSUPPORTED),
    (_with(top_logprobs=3), "top_logprobs", UNSUPPORTED),
    (_with(audio={"voice": "alloy", "format": "mp3"}), "audio", UNSUPPORTED),
    (_with(modalities=["text", "audio"]), "modalities", UNSUPPORTED),
    (_with(frequency_penalty=0.5), "frequency_penalty", UNSUPPORTED),
    (_with(presence_penalty=-1), "presence_penalty", UNSUPPORTED),
    (_with(logit_bias={"50256": -100}), "logit_bias", UNSUPPORTED),
    (_with(prediction={"type": "content", "content": "x"}), "prediction", UNSUPPORTED),
    (_with(web_search_options={}), "web_search_options", UNSUPPORTED),
    (_with(functions=[{"name": "f"}]), "functions", UNSUPPORTED),
    (_with(function_call="auto"), "function_call", UNSUPPORTED),
    (_with(prompt_cache_retention="24h"), "prompt_cache_retention", UNSUPPORTED),
    (_with(made_up=1), "made_up", UNSUPPORTED),
    (_msg({"role": "user", "content": "x", "name": "bob"}), "messages[0].name", UNSUPPORTED),
    (_msg({"role": "function", "name": "f", "content": "x"}), "messages[0].role", UNSUPPORTED),
    (_msg({"role": "assistant", "content": "x", "audio": {"id": "a"}}), "messages[0].audio", UNSUPPORTED),
    (
        _msg({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}),
        "messages[0].function_call",
        UNSUPPORTED,
    ),
    (
        _msg({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}]}),
        "messages[0].content[0].type",
        UNSUPPORTED,
    ),
    (_msg({"role": "user", "content": "x", "extra": 1}), "messages[0].extra", UNSUPPORTED),
    (
        _msg(
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "f", "input": ""}}]}
        ),
        "messages[0].tool_calls[0].type",
        UNSUPPORTED,
    ),
    (_with(tools=[{"type": "custom", "custom": {"name": "f"}}]), "tools[0].type", UNSUPPORTED),
    (_with(tool_choice={"type": "custom", "custom": {"name": "f"}}), "tool_choice.type", UNSUPPORTED),
    (
        _with(stream=True, stream_options={"include_usage": True, "chunk_size": 3}),
        "stream_options.chunk_size",
        UNSUPPORTED,
    ),
    # malformed
    ({"messages": [{"role": "user", "content": "x"}]}, "model", "missing_required_parameter"),
    ({"model": "m"}, "messages", "missing_required_parameter"),
    (_with(model=""), "model", "empty_string"),
    (_with(model=["m"]), "model", "invalid_type"),
    (_with(model="m" * 300), "model", "string_above_max_length"),
    (_with(messages=[]), "messages", "empty_array"),
    (_with(messages={"role": "user"}), "messages", "invalid_type"),
    (_with(messages=["hi"]), "messages[0]", "invalid_type"),
    (_msg({"role": "robot", "content": "x"}), "messages[0].role", "invalid_value"),
    (_msg({"role": ["user"], "content": "x"}), "messages[0].role", "invalid_value"),
    (_msg({"role": "user"}), "messages[0].content", "missing_required_parameter"),
    (_msg({"role": "user", "content": 5}), "messages[0].content", "invalid_type"),
    (_msg({"role": "user", "content": [{"type": "text"}]}), "messages[0].content[0].text", "invalid_type"),
    (
        _msg({"role": "user", "content": [{"type": "image_url", "image_url": "http://x"}]}),
        "messages[0].content[0].image_url",
        "invalid_type",
    ),
    (
        _msg({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]}),
        "messages[0].content[0].image_url.detail",
        "invalid_value",
    ),
    (
        _msg({"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}),
        "messages[0].content[0].file",
        "missing_required_parameter",
    ),
    (
        _msg({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}),
        "messages[0].content[0].type",
        "invalid_value",
    ),
    (_msg({"role": "tool", "content": "x"}), "messages[0].tool_call_id", "invalid_type"),
    (_msg({"role": "tool", "tool_call_id": "c"}), "messages[0].content", "missing_required_parameter"),
    (
        _msg(
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "bad name", "arguments": "{}"}}],
            }
        ),
        "messages[0].tool_calls[0].function.name",
        "invalid_value",
    ),
    (
        _msg({"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        "messages[0].tool_calls[0].id",
        "invalid_type",
    ),
    (
        _msg({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}),
        "messages[0].tool_calls[0].function.arguments",
        "invalid_type",
    ),
    (_msg({"role": "assistant", "content": [{"type": "image_url"}]}), "messages[0].content[0].type", "invalid_value"),
    (_with(tools=[{"type": "function", "function": {"name": "f"}}] * 2), "tools", "invalid_value"),
    (
        _with(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
        "invalid_type",
    ),
    (
        _with(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
        "tools[0].function.strict",
        "invalid_type",
    ),
    (_with(tools=[{"type": "function", "name": "f"}]), "tools[0].name", UNSUPPORTED),
    (_with(tool_choice="any"), "tool_choice", "invalid_value"),
    (_with(tool_choice={"type": "function", "function": {"name": "g"}}), "tool_choice.function.name", None),
    (_with(tool_choice={"type": "function", "name": "f"}), "tool_choice.name", UNSUPPORTED),
    (
        _with(tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "none", "tools": []}}),
        "tool_choice.allowed_tools.mode",
        "invalid_value",
    ),
    (
        _with(response_format={"type": "json_schema", "json_schema": {"name": "n"}}),
        "response_format.json_schema.schema",
        "missing_required_parameter",
    ),
    (_with(response_format={"type": "xml"}), "response_format.type", "invalid_value"),
    (_with(response_format={"type": "json_schema", "name": "n", "schema": {}}), "response_format.name", UNSUPPORTED),
    (_with(max_tokens=0), "max_tokens", "invalid_value"),
    (_with(max_completion_tokens=1.5), "max_completion_tokens", "invalid_type"),
    (_with(max_completion_tokens=True), "max_completion_tokens", "invalid_type"),
    (_with(max_tokens=10, max_completion_tokens=20), "max_tokens", "invalid_value"),
    (_with(max_tokens=10**12), "max_tokens", "invalid_value"),
    (_with(stop=["a", "b", "c", "d", "e"]), "stop", "array_above_max_length"),
    (_with(stop=[""]), "stop[0]", "invalid_value"),
    (_with(stop=7), "stop", "invalid_type"),
    (_with(seed="42"), "seed", "invalid_type"),
    (_with(seed=2**64), "seed", "invalid_value"),
    (_with(reasoning_effort="extreme"), "reasoning_effort", "invalid_value"),
    (_with(verbosity=1), "verbosity", "invalid_value"),
    (_with(stream="yes"), "stream", "invalid_type"),
    (_with(stream_options={"include_usage": True}), "stream_options", "invalid_value"),
    (_with(stream=True, stream_options={"include_usage": "yes"}), "stream_options.include_usage", "invalid_type"),
]


@pytest.mark.parametrize(("body", "param", "code"), CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_refused_by_name(body, param, code):
    with pytest.raises(InvalidRequest) as caught:
        door.parse(body)
    assert caught.value.param == param
    assert caught.value.status == 400
    if code is not None:
        assert caught.value.code == code
    assert door.error_body(caught.value)["error"]["param"] == param


def test_not_an_object():
    for body in ([], "x", None, 3):
        with pytest.raises(InvalidRequest):
            door.parse(body)  # type: ignore[arg-type]


def test_limits_are_bounded(settings):
    settings.HARNMODEL_MAX_INPUT_ITEMS = 3
    settings.HARNMODEL_MAX_TOOLS = 1
    with pytest.raises(InvalidRequest) as caught:
        door.parse(_with(messages=[{"role": "user", "content": "x"}] * 4))
    assert (caught.value.param, caught.value.code) == ("messages", "array_above_max_length")
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in range(3)]
    with pytest.raises(InvalidRequest) as caught:
        door.parse(_with(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": calls}]))
    assert caught.value.param == "messages"  # three calls make four items
    with pytest.raises(InvalidRequest) as caught:
        door.parse(_with(tools=BASE["tools"] * 2))
    assert caught.value.param == "tools"
    settings.HARNMODEL_MAX_TEXT_CHARS = 10
    with pytest.raises(InvalidRequest) as caught:
        door.parse(_msg({"role": "user", "content": [{"type": "text", "text": "x" * 11}]}))
    assert (caught.value.param, caught.value.code) == ("messages[0].content[0].text", "string_above_max_length")


def test_default_values_of_refused_fields_are_accepted():
    parsed = door.parse(_with(n=1, logprobs=False, frequency_penalty=0, presence_penalty=0.0, logit_bias={},
                              modalities=["text"]))  # fmt: skip
    assert set(parsed.body) == {"model", "input", "tools"}


def test_max_tokens_aliases():
    assert door.parse(_with(max_tokens=7)).body["max_output_tokens"] == 7
    assert door.parse(_with(max_completion_tokens=8.0)).body["max_output_tokens"] == 8
    assert door.parse(_with(max_tokens=9, max_completion_tokens=9)).body["max_output_tokens"] == 9


def test_assistant_reasoning_content_is_dropped_on_replay():
    parsed = door.parse(_msg({"role": "assistant", "content": "a", "reasoning_content": "r"}))
    assert parsed.body["input"] == [{"type": "message", "role": "assistant", "content": "a"}]
    with pytest.raises(InvalidRequest) as caught:
        door.parse(_msg({"role": "assistant", "content": "a", "reasoning_content": 1}))
    assert caught.value.param == "messages[0].reasoning_content"


def test_same_named_fields_are_validated_once_by_the_schema_with_the_clients_name():
    for field, value in [("temperature", 3), ("top_p", -1), ("metadata", {"k": 1}), ("user", ["u"])]:
        parsed = door.parse(_with(**{field: value}))
        with pytest.raises(InvalidRequest) as caught:
            parse_request(msgspec.json.encode(parsed.body))
        assert caught.value.param.split(".")[0].split("[")[0] == field


# -- hostile bodies ------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
_word = st.sampled_from(["text", "image_url", "file", "input_audio", "refusal", "function", "custom", "", "x"])
_part = st.fixed_dictionaries(
    {"type": _word | _json},
    optional={"text": st.text(max_size=8) | _json, "image_url": st.fixed_dictionaries({"url": st.text()}) | _json,
              "file": st.fixed_dictionaries({}, optional={"file_data": st.text(), "filename": _json}) | _json,
              "refusal": st.text() | _json},
)  # fmt: skip
_call = st.fixed_dictionaries(
    {"id": st.text(max_size=8) | _json, "function": st.fixed_dictionaries(
        {"name": st.sampled_from(["f", "g", "bad name"]) | _json, "arguments": st.text(max_size=8) | _json})},
    optional={"type": st.just("function") | _json},
)  # fmt: skip
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]) | _json},
    optional={"content": st.text(max_size=8) | st.lists(_part, max_size=3) | _json,
              "tool_calls": st.lists(_call, max_size=3) | _json, "tool_call_id": st.text(max_size=4) | _json,
              "refusal": st.text() | _json, "name": _json},
)  # fmt: skip
_tool = st.fixed_dictionaries(
    {"type": st.just("function") | _json},
    optional={"function": st.fixed_dictionaries(
        {"name": st.sampled_from(["f", "g", "h-1"]) | _json},
        optional={"parameters": st.just({"type": "object"}) | _json, "strict": _json, "description": _json})},
)  # fmt: skip
_field_values = {
    "model": st.just("gpt-4o") | _json,
    "messages": st.lists(_message, max_size=4) | _json,
    "tools": st.lists(_tool, max_size=3) | _json,
    "tool_choice": st.sampled_from(["auto", "none", "required"])
    | st.just({"type": "function", "function": {"name": "f"}})
    | st.just({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function",
                                                                                       "function": {"name": "g"}}]}})
    | _json,
    "response_format": st.sampled_from([{"type": "json_object"}, {"type": "json_schema",
                                                                  "json_schema": {"name": "n", "schema": {}}}]) | _json,
    "stream": st.booleans() | _json,
    "stream_options": st.just({"include_usage": True}) | _json,
    **{name: _json for name in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
                                "reasoning_effort", "verbosity", "user", "metadata", "n", "logprobs",
                                "parallel_tool_calls", "store", "service_tier", "frequency_penalty", "modalities")},
}  # fmt: skip
_bodies = st.fixed_dictionaries(
    {"model": _field_values["model"], "messages": _field_values["messages"]},
    optional={k: v for k, v in _field_values.items() if k not in ("model", "messages")},
)


_text = st.text(max_size=12)  # any Unicode, surrogates excluded as JSON excludes them
_valid_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda u, d: {"type": "image_url", "image_url": {"url": "https://x/" + u, **d}}, _text,
              st.sampled_from([{}, {"detail": "low"}, {"detail": "auto"}])),
    st.builds(lambda t: {"type": "file", "file": {"file_data": "QUJD", "filename": t or "f"}}, _text),
)  # fmt: skip
_valid_call = st.builds(
    lambda i, n, a: {"id": "call_" + i, "type": "function", "function": {"name": n, "arguments": a}},
    st.text("abc123", min_size=1, max_size=6), st.sampled_from(["f", "g"]), _text,
)  # fmt: skip
_valid_message = st.one_of(
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["system", "developer"]),
              _text | st.lists(st.builds(lambda t: {"type": "text", "text": t}, _text), min_size=1, max_size=2)),
    st.builds(lambda c: {"role": "user", "content": c}, _text | st.lists(_valid_part, min_size=1, max_size=3)),
    st.builds(lambda c, calls, r: {"role": "assistant", "content": c, **calls, **r}, st.none() | _text,
              st.sampled_from([{}]) | st.lists(_valid_call, min_size=1, max_size=3).map(lambda v: {"tool_calls": v}),
              st.sampled_from([{}, {"refusal": "no"}])),
    st.builds(lambda i, c: {"role": "tool", "tool_call_id": "call_" + i, "content": c},
              st.text("abc", min_size=1, max_size=3), _text),
)  # fmt: skip
_valid_values = {
    "messages": st.lists(_valid_message, min_size=1, max_size=6),
    "tools": st.just([{"type": "function", "function": {"name": n}} for n in ("f", "g")]),
    "tool_choice": _field_values["tool_choice"].filter(lambda v: v in ("auto", "none", "required") or
                                                       isinstance(v, dict) and v.get("type") in ("function",
                                                                                                 "allowed_tools")),
    "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
    "stream": st.booleans(),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(1, 10**6),
    "max_completion_tokens": st.integers(1, 10**6),
    "stop": _text.filter(bool) | st.lists(_text.filter(bool), max_size=4),
    "seed": st.integers(-(2**63), 2**63 - 1),
    "reasoning_effort": st.sampled_from(["low", "high", "none"]),
    "user": _text,
    "metadata": st.dictionaries(st.text(max_size=8), _text, max_size=3),
}  # fmt: skip


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*path, index))
    return found


@st.composite
def _near_valid(draw: Any) -> Any:
    """A valid body, then (mostly) one value somewhere inside it swapped for arbitrary JSON."""
    body = draw(
        st.fixed_dictionaries(
            {"model": st.just("gpt-4o"), "messages": _valid_values["messages"]},
            optional={k: v for k, v in _valid_values.items() if k != "messages"},
        )
    )
    body = copy.deepcopy(body)  # st.just values are shared between examples: never change them in place
    if body.get("stream_options") is None and body.get("stream"):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    if draw(st.integers(0, 3)):
        path = draw(st.sampled_from(_paths(body)[1:]))
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = draw(_json)
    return body


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_near_valid() | _bodies | _json)
def test_hostile_bodies_end_as_api_errors(body):
    """Whatever arrives: a DoorRequest, or an ApiError. And what the door accepts, the pipeline's own
    validator accepts too, or refuses it naming a field the client sent under that same name."""
    try:
        parsed = door.parse(body)
    except ApiError as error:
        assert error.status == 400 and isinstance(error.param, (str, type(None)))
        return
    try:
        internal = parse_request(msgspec.json.encode(parsed.body))
    except InvalidRequest as error:
        assert error.param is not None and error.param.split(".")[0].split("[")[0] in _SAME, error.param
        return
    # And a translating channel given it refuses only with a field the client can find in its body.
    try:
        chat_body(internal, CTX)
    except InvalidRequest as error:
        param = door.client_error(error, parsed).param
        assert param is not None and not param.startswith(("input", "text", "reasoning")), param


CTX = CallContext(
    request_id="r", response_id="resp_1", public_model="gpt-4o", upstream_model="m", base_url="http://u",
    secret="s", stream=False, max_output_tokens=10, created_at=0,
)  # fmt: skip
