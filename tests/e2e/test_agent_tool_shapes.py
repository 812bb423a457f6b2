"""Codex's tool shapes through a translated channel (Chat Completions on the test upstream), over real HTTP:
namespace functions, custom (freeform) tools and local_shell go up as plain functions and their calls come back
in the client's own shape, JSON and streamed; hosted tools a channel drops (drop_tools) never reach it, and
without that rule they are refused before any hold."""

import json

import httpx
import openai
import pytest

from billing.models import Hold, UsageRecord

from .conftest import serve_model, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "gpt-4o-chat"
ASK = [{"role": "user", "content": [{"type": "input_text", "text": "*** Begin Patch"}]}]
NAMESPACE = {
    "type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
    "tools": [{"type": "function", "name": "spawn_agent", "description": "Start one.", "strict": False,
               "parameters": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}}],
}
CUSTOM = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
          "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}
WEB_SEARCH = {"type": "web_search"}


def post(http: httpx.Client, key: str, **body) -> httpx.Response:
    return http.post("/v1/responses", json={"model": MODEL, "input": ASK, **body},
                     headers={"authorization": f"Bearer {key}"})


def sse_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_a_namespaced_function_goes_up_flat_and_its_call_comes_back_namespaced(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)

    reply = post(http, alice.key, tools=[NAMESPACE])

    assert reply.status_code == 200, reply.text
    sent = upstream.received("/chat/completions")[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["multi_agent_v1__spawn_agent"]
    [call] = reply.json()["output"]
    assert (call["type"], call["name"], call["namespace"]) == ("function_call", "spawn_agent", "multi_agent_v1")
    assert json.loads(call["arguments"]) == {"task": "*** Begin Patch"}

    # The next turn sends the call back namespaced, and its output: the upstream sees the flat name again.
    follow = ASK + [call, {"type": "function_call_output", "call_id": call["call_id"], "output": "started"}]
    again = http.post("/v1/responses", json={"model": MODEL, "input": follow, "tools": [NAMESPACE]},
                      headers={"authorization": f"Bearer {alice.key}"})
    assert again.status_code == 200, again.text
    messages = upstream.received("/chat/completions")[1].body["messages"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert again.json()["output"][0]["content"][0]["text"] == "工具返回：started"


def test_a_custom_tool_is_a_one_string_function_upstream_and_a_custom_tool_call_back(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)

    reply = post(http, alice.key, tools=[CUSTOM])

    assert reply.status_code == 200, reply.text
    [tool] = upstream.received("/chat/completions")[0].body["tools"]
    assert tool["function"]["name"] == "apply_patch"
    assert tool["function"]["parameters"]["properties"] == {"input": {"type": "string",
                                                                      "description": "The tool's whole input, as free text."}}
    assert "start: /.+/" in tool["function"]["description"]  # the grammar, told to the model
    [call] = reply.json()["output"]
    assert (call["type"], call["name"], call["input"]) == ("custom_tool_call", "apply_patch", "*** Begin Patch")

    follow = ASK + [call, {"type": "custom_tool_call_output", "call_id": call["call_id"], "output": "Done!"}]
    again = http.post("/v1/responses", json={"model": MODEL, "input": follow, "tools": [CUSTOM]},
                      headers={"authorization": f"Bearer {alice.key}"})
    assert again.status_code == 200, again.text
    messages = upstream.received("/chat/completions")[1].body["messages"]
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"input": "*** Begin Patch"}
    assert messages[2] == {"role": "tool", "tool_call_id": call["call_id"], "content": "Done!"}


def test_a_streamed_custom_tool_call_is_announced_whole_in_its_own_events(gateway, upstream, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)
    client = gateway.client(alice.key)

    with client.responses.stream(model=MODEL, input=ASK, tools=[CUSTOM]) as stream:  # the SDK validates shapes
        kinds = [event.type for event in stream]
        final = stream.get_final_response()

    [call] = final.output
    assert (call.type, call.name, call.input) == ("custom_tool_call", "apply_patch", "*** Begin Patch")
    assert "response.function_call_arguments.delta" not in kinds
    assert kinds.index("response.output_item.added") < kinds.index("response.custom_tool_call_input.delta") \
        < kinds.index("response.custom_tool_call_input.done") < kinds.index("response.output_item.done")


def test_local_shell_goes_up_as_a_function_and_comes_back_as_a_local_shell_call(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)

    reply = post(http, alice.key, tools=[{"type": "local_shell"}], stream=True)

    assert reply.status_code == 200, reply.text
    assert upstream.received("/chat/completions")[0].body["tools"][0]["function"]["name"] == "local_shell"
    done = [e for e in sse_events(reply.text) if e["type"] == "response.output_item.done"]
    item = done[0]["item"]
    assert item["type"] == "local_shell_call" and item["action"]["type"] == "exec"
    assert item["action"]["command"] == []  # the test upstream fills an array argument with []


def test_hosted_tools_a_channel_drops_never_reach_it(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL, options={"drop_tools": ["web_search"]})

    reply = post(http, alice.key, tools=[NAMESPACE, WEB_SEARCH], include=["reasoning.encrypted_content"],
                 store=False, client_metadata={"x-codex-turn-metadata": "{}"})

    assert reply.status_code == 200, reply.text
    sent = upstream.received("/chat/completions")[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["multi_agent_v1__spawn_agent"]
    assert "client_metadata" not in sent
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    assert record.cost_micros > 0

    forced = post(http, alice.key, tools=[NAMESPACE, WEB_SEARCH], tool_choice={"type": "web_search"})
    assert forced.status_code == 400 and forced.json()["error"]["param"] == "tool_choice", forced.text


def test_without_the_rule_a_hosted_tool_is_refused_before_any_hold(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)

    reply = post(http, alice.key, tools=[NAMESPACE, WEB_SEARCH])

    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "tools[1]"
    assert not upstream.received() and not Hold.objects.exists()


def test_the_sdk_reads_a_namespaced_call(gateway, upstream, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)
    reply = gateway.client(alice.key).responses.create(model=MODEL, input=ASK, tools=[NAMESPACE])
    call = reply.output[0]
    assert isinstance(call, openai.types.responses.ResponseFunctionToolCall)
    assert (call.name, call.namespace) == ("spawn_agent", "multi_agent_v1")


HISTORY = ASK + [
    {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
    {"type": "custom_tool_call", "call_id": "call_p", "name": "apply_patch", "input": "*** Begin Patch"},
    {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"},
]


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
def test_an_agent_history_is_accepted_on_every_channel_kind(kind, gateway, upstream, http, alice):
    serve_model(kind, upstream, public_id=MODEL)

    reply = http.post("/v1/responses", json={"model": MODEL, "input": HISTORY, "tools": [CUSTOM]},
                      headers={"authorization": f"Bearer {alice.key}"})

    assert reply.status_code == 200, reply.text
    sent = upstream.received()[0].body
    if kind == "openai_responses":  # the Responses upstream gets the items as Codex sent them
        assert sent["input"][1:] == HISTORY[1:]
    else:  # the search is left out; the freeform call and its output are a function call and its output
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
        assert sent["messages"][2]["content"] == "Done!"


def test_a_malformed_agent_item_is_a_400_naming_it(gateway, upstream, http, alice):
    serve_model("openai_chat", upstream, public_id=MODEL)
    bad = ASK + [{"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": ["x"]}]

    reply = http.post("/v1/responses", json={"model": MODEL, "input": bad},
                      headers={"authorization": f"Bearer {alice.key}"})

    assert reply.status_code == 400 and reply.json()["error"]["param"] == "input[1].input", reply.text
