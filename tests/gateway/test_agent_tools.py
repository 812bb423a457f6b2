"""Agent tool shapes for translated channels (gateway/protocols/agent_tools.py), as pure functions: the request
flattened to plain functions and each call mapped back, both from the same request."""

import json

import pytest

from gateway.protocols import agent_tools
from gateway.wire.errors import InvalidRequest
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import parse_object

FN = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}


def parsed(**body):
    return parse_object({"model": "m", "input": "hi", **body})


def namespace(name: str, *tools: dict) -> dict:
    return {"type": "namespace", "name": name, "description": "d", "tools": list(tools)}


def test_plain_function_requests_are_left_as_they_are():
    request = parsed(tools=[FN])
    assert agent_tools.flatten(request, {}) is request
    assert agent_tools.names_for(request.typed) is None


def test_long_and_clashing_flattened_names_stay_unique_and_reversible():
    long_ns = "n" * 50
    request = parsed(tools=[
        {"type": "function", "name": "a__b", "parameters": {}},
        namespace("a", {"type": "function", "name": "b", "parameters": {}}),
        namespace(long_ns, {"type": "function", "name": "t" * 40, "parameters": {}}),
    ])
    flat = agent_tools.flatten(request, {})
    names = [t["name"] for t in flat.typed.tools]
    assert names[0] == "a__b" and names[1] != "a__b" and len(set(names)) == 3
    assert all(len(n) <= agent_tools.MAX_NAME for n in names)
    mapping = agent_tools.names_for(request.typed)
    item = {"name": names[2]}
    mapping.restore_function(item)
    assert item == {"name": "t" * 40, "namespace": long_ns}


def test_a_namespaced_custom_tool_and_choices_follow_the_flat_names():
    request = parsed(
        tools=[namespace("fs", {"type": "custom", "name": "patch"}), {"type": "web_search"}],
        tool_choice={"type": "allowed_tools", "mode": "auto",
                     "tools": [{"type": "custom", "name": "patch", "namespace": "fs"}, {"type": "web_search"}]},
    )
    flat = agent_tools.flatten(request, {"drop_tools": ["web_search"]})
    assert [t["name"] for t in flat.typed.tools] == ["fs__patch"]
    assert flat.typed.tool_choice["tools"] == [{"type": "function", "name": "fs__patch"}]
    assert flat.raw["tools"] == flat.typed.tools and request.typed.tools[0]["type"] == "namespace"  # untouched
    with pytest.raises(InvalidRequest) as caught:
        agent_tools.flatten(parsed(tools=[{"type": "web_search"}], tool_choice={"type": "web_search"}),
                            {"drop_tools": ["*"]})
    assert caught.value.param == "tool_choice"


def test_the_builder_announces_a_custom_call_whole_in_the_clients_shape():
    request = parsed(tools=[{"type": "custom", "name": "apply_patch"}])
    builder = ResponseStreamBuilder(response_id="resp_1", model="m", request=request.typed)
    builder.tools = agent_tools.names_for(request.typed)
    out = builder.tool_call_start(call_id="call_1", name="apply_patch")
    out += builder.tool_call_arguments('{"input": "*** Begin')
    out += builder.tool_call_arguments(' Patch"}')
    assert b"function_call" not in out  # nothing announced while the arguments come
    out += builder.finish(usage=None)
    events = [json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-5:] == ["response.output_item.added", "response.custom_tool_call_input.delta",
                          "response.custom_tool_call_input.done", "response.output_item.done", "response.completed"]
    call = events[-1]["response"]["output"][0]
    assert call == {"type": "custom_tool_call", "id": call["id"], "call_id": "call_1", "status": "completed",
                    "name": "apply_patch", "input": "*** Begin Patch"}
