"""The OpenAPI document and the validator must say the same thing.

Every field of ResponsesRequest is in the document with the JSON types msgspec accepts for it, and is
described; every enum the validator checks by hand (roles, part types, item types, tool_choice strings,
text formats) is the same set in the document; requests the validator accepts are valid documents.
"""

import json
from typing import Any

import jsonschema_rs
import msgspec
import pytest
import schemathesis

from gateway.protocols.responses.openapi import build_document
from gateway.protocols.responses.openapi_request import ITEM_SCHEMAS, PART_SCHEMAS, TEXT_FORMAT_SCHEMAS, request_schema
from gateway.wire import schema as validator
from gateway.wire.schema import parse_request


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_document()


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def json_types(doc: dict, schema: dict) -> set[str]:
    """The JSON types a schema admits at its top level ('any' when it says nothing)."""
    schema = resolve(doc, schema)
    if "const" in schema:
        return {_type_of(schema["const"])}
    if "type" in schema:
        kinds = schema["type"]
        return set(kinds) if isinstance(kinds, list) else {kinds}
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return set().union(*(json_types(doc, branch) for branch in branches))
    if "enum" in schema:
        return {_type_of(value) for value in schema["enum"]}
    return {"any"}


def array_item_types(doc: dict, schema: dict) -> set[str]:
    schema = resolve(doc, schema)
    found: set[str] = set()
    for branch in schema.get("anyOf") or [schema]:
        branch = resolve(doc, branch)
        if branch.get("type") == "array" and "items" in branch:
            found |= json_types(doc, branch["items"])
    return found


def _type_of(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}.get(
        type(value), "object" if isinstance(value, dict) else "array"
    )


def consts(doc: dict, union_name: str) -> set[str]:
    union = doc["components"]["schemas"][union_name]
    return {resolve(doc, branch)["properties"]["type"]["const"] for branch in union["anyOf"]}


# -- fields ---------------------------------------------------------------------------------------------------------
def test_every_request_field_is_documented_with_the_validators_types(doc):
    generated = msgspec.json.schema(validator.ResponsesRequest)
    base = generated["$defs"]["ResponsesRequest"]
    documented = doc["components"]["schemas"]["ResponsesRequest"]
    fields = [field.encode_name for field in msgspec.structs.fields(validator.ResponsesRequest)]

    assert sorted(documented["properties"]) == sorted(fields)
    assert sorted(documented["required"]) == sorted(base["required"]) == ["input", "model"]
    for name in fields:
        ours, theirs = documented["properties"][name], base["properties"][name]
        assert json_types(doc, ours) == json_types(generated, theirs), name
        assert array_item_types(doc, ours) <= array_item_types(generated, theirs) | {"object"}, name
        assert ours.get("description"), (
            f"{name} is in ResponsesRequest but not described in gateway/protocols/responses/openapi_request.py"
        )


def test_a_field_added_to_the_validator_shows_up_undescribed():
    class Wider(validator.ResponsesRequest, kw_only=True):
        brand_new: int | None = None

    original = validator.ResponsesRequest
    validator.ResponsesRequest = Wider
    try:
        schema = request_schema(max_items=10, max_tools=10)
    finally:
        validator.ResponsesRequest = original
    assert schema["properties"]["brand_new"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert "description" not in schema["properties"]["brand_new"]  # so the test above fails until it is documented


# -- enums ----------------------------------------------------------------------------------------------------------
def test_enums_match_the_validators_constants(doc):
    schemas = doc["components"]["schemas"]
    assert set(schemas["MessageItem"]["properties"]["role"]["enum"]) == validator.MESSAGE_ROLES
    assert consts(doc, "ContentPart") == set(PART_SCHEMAS) == validator.CONTENT_TYPES
    assert consts(doc, "InputItem") == set(ITEM_SCHEMAS) == validator.ITEM_TYPES
    assert consts(doc, "TextFormat") == set(TEXT_FORMAT_SCHEMAS) == validator.TEXT_FORMATS
    choice = schemas["ToolChoice"]["anyOf"]
    assert set(choice[0]["enum"]) == validator.TOOL_CHOICE_STRINGS
    assert set(choice[1]["properties"]["type"]["enum"]) == validator.TOOL_CHOICE_STRINGS
    assert schemas["FunctionTool"]["properties"]["name"]["pattern"] == validator._TOOL_NAME.pattern


def test_limits_follow_settings(settings):
    settings.HARNMODEL_MAX_INPUT_ITEMS = 7
    settings.HARNMODEL_MAX_TOOLS = 3
    fields = build_document()["components"]["schemas"]["ResponsesRequest"]["properties"]
    assert fields["input"]["anyOf"][1]["maxItems"] == 7
    assert fields["tools"]["anyOf"][0]["maxItems"] == 3


# -- the document against real requests and errors -------------------------------------------------------------------
def validator_for(doc: dict, name: str):
    return jsonschema_rs.Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"})


ACCEPTED = [
    {"model": "gpt-4o", "input": "你好"},
    {
        "model": "gpt-4o",
        "instructions": "使用简洁中文回答。",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤"}]}],
        "stream": False,
    },
    {
        "model": "gpt-x",
        "stream": True,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather in Paris?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
                ],
            },
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "18"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}]},
            {"type": "item_reference", "id": "msg_1"},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False},
            {"type": "web_search"},
        ],
        "tool_choice": {
            "type": "allowed_tools",
            "mode": "auto",
            "tools": [{"type": "function", "name": "get_weather"}],
        },
        "temperature": 0.2,
        "top_p": 1,
        "max_output_tokens": 100,
        "metadata": {"k": "v"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
        "truncation": "auto",
        "top_logprobs": 0,
        "service_tier": "auto",
        "store": False,
        "some_future_field": {"forwarded": True},
    },
    {"model": "m", "input": [  # what Codex replays from earlier turns (gateway/wire/agent_items.py)
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c", "output": "Done"},
        {"type": "local_shell_call", "call_id": "s", "status": "completed", "action": {"type": "exec", "command": ["ls"]}},
        {"type": "local_shell_call_output", "id": "s", "output": "a.txt"},
        {"type": "tool_search_call", "call_id": "t", "execution": "client", "arguments": {"query": "agents"}},
        {"type": "tool_search_output", "call_id": "t", "execution": "client", "tools": [{"type": "namespace"}]},
    ]},
    {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "auto"}},
    {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": "required"},
    # JSON Schema (and OpenAI) count an integral float as an integer.
    {"model": "m", "input": "x", "max_output_tokens": 1.0, "top_logprobs": 20.0},
]


@pytest.mark.parametrize("body", ACCEPTED, ids=range(len(ACCEPTED)))
def test_requests_the_validator_accepts_are_valid_documents(doc, body):
    parse_request(json.dumps(body).encode())
    validator_for(doc, "ResponsesRequest").validate(body)


REJECTED = [
    {"input": "x"},
    {"model": "m"},
    {"model": "m", "input": ""},
    {"model": "m", "input": []},
    {"model": "m", "input": "x", "temperature": 3},
    {"model": "m", "input": "x", "top_p": -0.5},
    {"model": "m", "input": "x", "max_output_tokens": 0},
    {"model": "m", "input": "x", "top_logprobs": 21},
    {"model": "m", "input": "x", "max_output_tokens": 1.5},
    {"model": "m", "input": "x", "top_logprobs": 21.0},
    {"model": "m", "input": [{"role": "robot", "content": "x"}]},
    {"model": "m", "input": [{"type": "file_search_call"}]},
    {"model": "m", "input": [{"type": "custom_tool_call", "call_id": "c", "name": "apply_patch"}]},
    {"model": "m", "input": [{"type": "local_shell_call", "call_id": "c", "action": {"command": "ls"}}]},
    {"model": "m", "input": [{"role": "user", "content": [{"type": "input_txt", "text": "x"}]}]},
    {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
    {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]},
    {"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": [1]}]},
    {"model": "m", "input": [{"type": "item_reference"}]},
    {"model": "m", "input": "x", "tools": [{"type": "function", "name": "bad name"}]},
    {"model": "m", "input": "x", "tool_choice": "sometimes"},
    {"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}},
    {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "x"}}},
    {"model": "m", "input": "x", "metadata": {"k": "v" * 513}},
]


@pytest.mark.parametrize("body", REJECTED, ids=range(len(REJECTED)))
def test_requests_the_validator_rejects_are_invalid_documents(doc, body):
    with pytest.raises(Exception) as raised:
        parse_request(json.dumps(body).encode())
    assert getattr(raised.value, "status", None) == 400
    assert not validator_for(doc, "ResponsesRequest").is_valid(body)


def test_error_bodies_match_the_error_schema(doc):
    from gateway.wire.errors import InsufficientBalance, InvalidAuth, InvalidRequest, UpstreamTimeout, error_response

    check = validator_for(doc, "Error")
    for error in (InvalidRequest("x", param="input"), InvalidAuth("x"), InsufficientBalance("x"), UpstreamTimeout("x")):
        body = json.loads(error_response(error).content)
        check.validate(body)
        assert str(error.status) in doc["paths"]["/v1/responses"]["post"]["responses"]


@pytest.mark.django_db
@pytest.mark.urls("tests.hardening.urls")
def test_document_is_served_and_loads_as_openapi_31(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response["content-type"] == "application/json"
    served = response.json()
    assert served["openapi"] == "3.1.0"
    assert served == json.loads(json.dumps(build_document()))
    loaded = schemathesis.openapi.from_dict(served)
    operations = sorted(result.ok().label for result in loaded.get_all_operations())
    assert operations == ["GET /v1/models", "POST /v1/quote", "POST /v1/responses", "POST /v1/responses/input_tokens"]
