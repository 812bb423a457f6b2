"""Every string of a /v1/responses request has a bound (gateway/wire/limits.py), enforced by the validator with a
400 naming the field, and declared in the OpenAPI document as `maxLength`; no message quotes a huge value.

Each bound is tried at its limit (accepted by the validator and the document) and one past it (refused by
both). The text bound is lowered for the test, so its bodies stay small.
"""

import json
from typing import Any

import jsonschema_rs
import pytest

from gateway.protocols.responses.openapi import build_document
from gateway.protocols.responses.openapi_request import ITEM_SCHEMAS, PART_SCHEMAS, TEXT_FORMAT_SCHEMAS
from gateway.wire import limits
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import parse_request

TEXT_LIMIT = 1000
PART_BASE = {
    "input_text": {"text": "x"},
    "input_image": {"image_url": "https://example.com/a.png"},
    "input_file": {},
    "input_audio": {},
    "output_text": {"text": "x"},
    "refusal": {},
}
ITEM_BASE = {
    "message": {"role": "user", "content": "x"},
    "function_call": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    "function_call_output": {"type": "function_call_output", "call_id": "c", "output": "o"},
    "reasoning": {"type": "reasoning"},
    "item_reference": {"type": "item_reference", "id": "msg_1"},
    "custom_tool_call": {"type": "custom_tool_call", "call_id": "c", "name": "f", "input": "i"},
    "custom_tool_call_output": {"type": "custom_tool_call_output", "call_id": "c", "output": "o"},
    "local_shell_call": {"type": "local_shell_call", "call_id": "c", "action": {"command": ["ls"]}},
    "local_shell_call_output": {"type": "local_shell_call_output", "call_id": "c", "output": "o"},
    "web_search_call": {"type": "web_search_call", "id": "ws_1"},
    "tool_search_call": {"type": "tool_search_call", "execution": "client", "arguments": {}},
    "tool_search_output": {"type": "tool_search_output", "execution": "client", "tools": []},
}
PARTS = {name: kind for kind, name in PART_SCHEMAS.items()}
ITEMS = {name: kind for kind, name in ITEM_SCHEMAS.items()}


def placed(component: str, name: str, value: str) -> tuple[dict[str, Any], str]:
    """A valid request with `value` as property `name` of a `component` object, and that property's param."""
    body: dict[str, Any] = {"model": "m", "input": "x"}
    if component == "ResponsesRequest":
        if name == "include":
            body["include"] = [value]
            return body, "include[0]"
        body[name] = value
        return body, name
    if component in ITEMS:
        body["input"] = [{**ITEM_BASE[ITEMS[component]], name: value}]
        return body, f"input[0].{name}"
    if component in PARTS:
        part = {"type": PARTS[component], **PART_BASE[PARTS[component]], name: value}
        body["input"] = [{"role": "user", "content": [part]}]
        return body, f"input[0].content[0].{name}"
    if component == "FunctionTool":
        body["tools"] = [{"type": "function", "name": "f", name: value}]
        return body, f"tools[0].{name}"
    if component == "HostedTool":
        body["tools"] = [{name: value}]
        return body, f"tools[0].{name}"
    if component == "ToolChoice":
        tool = value if name == "name" and len(value) <= 64 else "f"
        body["tools"] = [{"type": "function", "name": tool}]
        body["tool_choice"] = {"type": "function", "name": tool, name: value}
        return body, f"tool_choice.{name}"
    if component == "TextFormatJsonSchema":
        body["text"] = {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}, name: value}}
        return body, f"text.format.{name}"
    raise AssertionError(f"no body for {component}: add one here")


BOUNDS = [(component, name) for component, fields in limits.FIELDS.items() for name in fields]


@pytest.fixture
def small_text(settings):
    settings.HARNMODEL_MAX_TEXT_CHARS = TEXT_LIMIT


def _schema(doc: dict) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator({**doc, "$ref": "#/components/schemas/ResponsesRequest"})


@pytest.mark.parametrize(("component", "name"), BOUNDS, ids=[f"{c}.{n}" for c, n in BOUNDS])
def test_each_string_bound_is_enforced_and_declared(small_text, component, name):
    limit = limits.max_chars(limits.FIELDS[component][name])
    document = _schema(build_document())  # after the setting: the document states the limits in force

    at_limit, param = placed(component, name, "a" * limit)
    parse_request(json.dumps(at_limit).encode())
    document.validate(at_limit)

    over, param = placed(component, name, "a" * (limit + 1))
    with pytest.raises(InvalidRequest) as raised:
        parse_request(json.dumps(over).encode())
    error = raised.value
    assert (error.status, error.code, error.param) == (400, "string_above_max_length", param)
    assert f"maximum length {limit}," in error.message and len(error.message) < 200
    assert not document.is_valid(over)


def test_model_bound_follows_its_setting(settings):
    settings.HARNMODEL_MAX_MODEL_CHARS = 10
    parse_request(json.dumps({"model": "m" * 10, "input": "x"}).encode())
    with pytest.raises(InvalidRequest) as raised:
        parse_request(json.dumps({"model": "m" * 11, "input": "x"}).encode())
    assert raised.value.param == "model"
    model = build_document()["components"]["schemas"]["ResponsesRequest"]["properties"]["model"]
    assert model["maxLength"] == 10


def test_include_is_bounded_in_count_too():
    body = {"model": "m", "input": "x", "include": ["reasoning.encrypted_content"] * (limits.MAX_INCLUDE_ITEMS + 1)}
    with pytest.raises(InvalidRequest) as raised:
        parse_request(json.dumps(body).encode())
    assert (raised.value.param, raised.value.code) == ("include", "array_above_max_length")
    include = build_document()["components"]["schemas"]["ResponsesRequest"]["properties"]["include"]
    assert include["anyOf"][0]["maxItems"] == limits.MAX_INCLUDE_ITEMS


def test_the_validators_type_maps_are_the_documents():
    assert limits.ITEMS == ITEM_SCHEMAS
    assert limits.PARTS == PART_SCHEMAS
    assert limits.FORMATS == TEXT_FORMAT_SCHEMAS


def _string_properties(schema: dict, where: str):
    """(where, schema) of every string-typed property a request component declares, through anyOf branches."""
    for name, prop in schema.get("properties", {}).items():
        for branch in [prop, *prop.get("anyOf", ())]:
            if branch.get("type") == "string":
                yield f"{where}.{name}", branch
            if branch.get("type") == "array" and branch.get("items", {}).get("type") == "string":
                yield f"{where}.{name}[]", branch["items"]
    for index, branch in enumerate(schema.get("anyOf", ())):
        yield from _string_properties(branch, f"{where}|{index}")


def test_every_string_the_gateway_reads_is_bounded_in_the_document():
    """A new string field gets a bound: either it is in gateway/wire/limits.py's table, or it is an enum/const."""
    schemas = build_document()["components"]["schemas"]
    request_components = ["ResponsesRequest", *ITEM_SCHEMAS.values(), *PART_SCHEMAS.values(), "FunctionTool",
                          "HostedTool", "ToolChoice", *TEXT_FORMAT_SCHEMAS.values()]  # fmt: skip
    unbounded = [
        where
        for component in request_components
        for where, branch in _string_properties(schemas[component], component)
        if "maxLength" not in branch and "enum" not in branch and "const" not in branch
    ]
    assert unbounded == []


# -- no message quotes a huge value ---------------------------------------------------------------------------------
HUGE = "z" * 100_000


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": [{"type": HUGE}]},
        {"model": "m", "input": [{"type": [HUGE]}]},
        {"model": "m", "input": "x", "metadata": {HUGE: "v"}},
        {"model": "m", "input": "x", "metadata": {HUGE: 1}},
        {"model": "m" * 100_000, "input": "x"},
    ],
    ids=["item-type", "item-type-list", "metadata-key", "metadata-key-type", "model"],
)
def test_errors_never_quote_a_huge_value(body):
    with pytest.raises(InvalidRequest) as raised:
        parse_request(json.dumps(body).encode())
    assert len(raised.value.message) < 300
    assert len(raised.value.param or "") < 300


def test_clip():
    assert limits.clip("abc") == "abc"
    assert limits.clip("a" * 100) == "a" * 64 + "…"
    assert limits.clip(["x" * 100]).startswith("['xxx") and len(limits.clip(["x" * 100])) == 65
