"""The hosted `web_search` tool on translated channels, over real HTTP to the Anthropic and Gemini fakes: a channel
that allows it (allow_tools) sends the provider's own search (Anthropic's web_search server tool, Gemini's Google
Search grounding), the searches come back as web_search_call items and their citations as url_citation
annotations, JSON and streamed, and each search is charged at the model's per-call price to the micro."""

import json

import pytest

from billing import services as billing_services
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.pricing import PriceSnapshot, Usage, charge_micros
from tests.factories import make_channel, make_model
from tests.upstream.anthropic_mock import message_events

from .conftest import UPSTREAM_NAMES, UPSTREAM_SECRET, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "gpt-4o-search"
SEARCH_MICROS = 30_000
PRICE = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000, tool_call_micros=(("web_search", SEARCH_MICROS),))
ASK = [{"role": "user", "content": [{"type": "input_text", "text": "北京今天天气？"}]}]
SHELL = {"type": "function", "name": "shell", "description": "Run a command.",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}
SEARCH = {"type": "web_search", "filters": {"allowed_domains": ["weather.com.cn"]},
          "user_location": {"type": "approximate", "country": "CN", "city": "Beijing"}}
URL = "https://www.weather.com.cn/beijing"


def channel(kind: str, fakes, *, options=None, priced: bool = True):
    make_model(MODEL)
    if priced:
        publish_price()
    base_url = fakes["anthropic"].base_url if kind == "anthropic" else fakes["gemini"].api_base
    return make_channel(f"{kind}-search", provider=kind, base_url=base_url, secret=UPSTREAM_SECRET,
                        models={MODEL: UPSTREAM_NAMES[kind]},
                        options={"allow_tools": ["web_search"]} if options is None else options)


def publish_price() -> None:
    billing_services.price_publish(model_id=MODEL, input_micros=PRICE.input_micros,
                                   cached_input_micros=PRICE.cached_input_micros,
                                   output_micros=PRICE.output_micros, tool_call_micros=dict(PRICE.tool_call_micros))


def post(http, key: str, **body):
    return http.post("/v1/responses", json={"model": MODEL, "input": ASK, **body},
                     headers={"authorization": f"Bearer {key}"})


def sse_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def billed(reply, account, tokens: Usage, searches: int) -> UsageRecord:
    """The usage record of `reply`: its tokens, `searches` web searches, charged to the micro, ledger and hold."""
    request_id = reply.headers["x-request-id"]
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="the usage record")
    assert (record.input_tokens, record.output_tokens) == (tokens.input_tokens, tokens.output_tokens)
    assert record.tool_calls == ({"web_search": searches} if searches else {})
    assert record.cost_micros == charge_micros(tokens, PRICE) + searches * SEARCH_MICROS
    assert LedgerEntry.objects.get(request_id=request_id).amount_micros == -record.cost_micros
    assert Hold.objects.get(request_id=request_id).status == Hold.Status.SETTLED
    return record


# -- Anthropic ------------------------------------------------------------------------------------

CITED = "北京今天晴，最高气温 5°C"
ANTHROPIC_ANSWER = {
    "id": "msg_01Search", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [
        {"type": "text", "text": "我查一下。"},
        {"type": "server_tool_use", "id": "srvtoolu_01A", "name": "web_search", "input": {"query": "北京 天气 今天"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01A", "content": [
            {"type": "web_search_result", "url": URL, "title": "北京天气", "encrypted_content": "Eq…", "page_age": None},
            {"type": "web_search_result", "url": "https://example.com/b", "title": "B", "encrypted_content": "Eq…"},
        ]},
        {"type": "text", "text": "根据搜索结果，"},
        {"type": "text", "text": CITED, "citations": [
            {"type": "web_search_result_location", "url": URL, "title": "北京天气", "cited_text": "晴 5°C",
             "encrypted_index": "Eo…"},
        ]},
        {"type": "text", "text": "。"},
    ],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 2100, "output_tokens": 180, "server_tool_use": {"web_search_requests": 1}},
}
ANTHROPIC_TOKENS = Usage(input_tokens=2100, output_tokens=180)


def check_anthropic_output(output: list[dict]) -> None:
    assert [item["type"] for item in output] == ["message", "web_search_call", "message"]
    search = output[1]
    assert search["status"] == "completed" and search["id"].startswith("ws_")
    assert search["action"] == {"type": "search", "query": "北京 天气 今天"}
    part = output[2]["content"][0]
    assert part["text"] == "根据搜索结果，" + CITED + "。"
    start = len("根据搜索结果，")
    assert part["annotations"] == [{"type": "url_citation", "start_index": start, "end_index": start + len(CITED),
                                    "url": URL, "title": "北京天气"}]
    assert part["text"][start:start + len(CITED)] == CITED


def test_anthropic_runs_its_own_web_search_and_it_comes_back_as_a_search_item_with_citations(
        gateway, fakes, http, alice):
    channel("anthropic", fakes)
    fakes["anthropic"].queue(ANTHROPIC_ANSWER)

    reply = post(http, alice.key, tools=[SHELL, SEARCH], max_tool_calls=3)

    assert reply.status_code == 200, reply.text
    sent = fakes["anthropic"].requests[0].body
    assert sent["tools"][0]["name"] == "shell"
    assert sent["tools"][1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
                                "allowed_domains": ["weather.com.cn"],
                                "user_location": {"type": "approximate", "city": "Beijing", "country": "CN"}}
    check_anthropic_output(reply.json()["output"])
    billed(reply, alice.account, ANTHROPIC_TOKENS, searches=1)


def test_a_streamed_anthropic_search_has_openai_s_events_and_is_charged(gateway, fakes, http, alice):
    channel("anthropic", fakes)
    fakes["anthropic"].queue(message_events(ANTHROPIC_ANSWER), sse=True)

    reply = post(http, alice.key, tools=[SHELL, {"type": "web_search_preview"}], stream=True)

    assert reply.status_code == 200, reply.text
    events = sse_events(reply.text)

    sent = fakes["anthropic"].requests[0].body
    assert sent["stream"] is True and sent["tools"][1] == {"type": "web_search_20250305", "name": "web_search",
                                                           "max_uses": 8}  # the default cap
    kinds = [e["type"] for e in events]
    added = [e for e in events if e["type"] == "response.output_item.added" and e["item"]["type"] == "web_search_call"]
    done = [e for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "web_search_call"]
    assert len(added) == 1 and len(done) == 1 and added[0]["item"]["status"] == "in_progress"
    assert done[0]["item"]["action"]["query"] == "北京 天气 今天" and done[0]["item"]["status"] == "completed"
    order = [kinds.index(f"response.web_search_call.{step}") for step in ("in_progress", "searching", "completed")]
    assert kinds.index("response.output_item.added", kinds.index("response.output_item.done")) < order[0] \
        < order[1] < order[2] < events.index(done[0])
    [annotation] = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert annotation["annotation"]["url"] == URL and annotation["annotation_index"] == 0
    final = events[-1]
    assert final["type"] == "response.completed"
    check_anthropic_output(final["response"]["output"])
    billed(reply, alice.account, ANTHROPIC_TOKENS, searches=1)


def test_the_sdk_reads_a_translated_search_strictly(gateway, fakes, alice):
    channel("anthropic", fakes)
    fakes["anthropic"].queue(message_events(ANTHROPIC_ANSWER), sse=True)
    with gateway.client(alice.key).responses.stream(model=MODEL, input=ASK, tools=[{"type": "web_search"}]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["message", "web_search_call", "message"]
    assert final.output[2].content[0].annotations[0].type == "url_citation"


def test_a_failed_anthropic_search_is_a_failed_item_and_sources_come_when_asked(gateway, fakes, http, alice):
    channel("anthropic", fakes)
    answer = json.loads(json.dumps(ANTHROPIC_ANSWER))
    fakes["anthropic"].queue(answer)
    failed = {**answer, "content": [answer["content"][1], {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01A",
              "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}]}
    fakes["anthropic"].queue(failed)

    found = post(http, alice.key, tools=[SEARCH], include=["web_search_call.action.sources"])
    broke = post(http, alice.key, tools=[SEARCH])

    assert found.json()["output"][1]["action"]["sources"] == [{"type": "url", "url": URL},
                                                              {"type": "url", "url": "https://example.com/b"}]
    [item] = broke.json()["output"]
    assert item["type"] == "web_search_call" and item["status"] == "failed"


def test_an_earlier_turn_s_search_and_cited_answer_go_back_as_text(gateway, fakes, http, alice):
    channel("anthropic", fakes)
    fakes["anthropic"].queue(ANTHROPIC_ANSWER)
    first = post(http, alice.key, tools=[SEARCH]).json()
    follow = ASK + first["output"] + [{"role": "user", "content": [{"type": "input_text", "text": "明天呢？"}]}]

    again = post(http, alice.key, tools=[SEARCH], input=follow)

    assert again.status_code == 200, again.text
    messages = fakes["anthropic"].requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "server_tool_use" not in json.dumps(messages) and "根据搜索结果" in json.dumps(messages, ensure_ascii=False)


# -- Gemini ---------------------------------------------------------------------------------------

GEMINI_TEXT = "北京今天晴。Beijing is sunny, 5°C."
SUNNY = "Beijing is sunny"
GROUNDING = {
    "webSearchQueries": ["北京 天气", "beijing weather today"],
    "groundingChunks": [{"web": {"uri": "https://vertexaisearch.example/a", "title": "weather.com.cn"}},
                        {"web": {"uri": "https://vertexaisearch.example/b", "title": "accuweather.com"}}],
    "groundingSupports": [
        {"segment": {"startIndex": 0, "endIndex": len("北京今天晴。".encode()), "text": "北京今天晴。"},
         "groundingChunkIndices": [0]},
        {"segment": {"startIndex": len("北京今天晴。".encode()), "endIndex": len(("北京今天晴。" + SUNNY).encode()),
                     "text": SUNNY}, "groundingChunkIndices": [0, 1]},
    ],
    "searchEntryPoint": {"renderedContent": "<div>…</div>"},
}
GEMINI_USAGE = {"promptTokenCount": 900, "candidatesTokenCount": 40, "totalTokenCount": 940}
GEMINI_TOKENS = Usage(input_tokens=900, output_tokens=40)


def check_gemini_output(output: list[dict], queries: list[str]) -> None:
    assert [item["type"] for item in output] == ["message"] + ["web_search_call"] * len(queries)
    assert [item["action"]["query"] for item in output[1:]] == queries
    assert all(item["status"] == "completed" for item in output[1:])
    part = output[0]["content"][0]
    assert part["text"] == GEMINI_TEXT
    spans = [(a["start_index"], a["end_index"], a["url"][-1]) for a in part["annotations"]]
    six = len("北京今天晴。")  # 6 characters, 18 bytes
    assert spans == [(0, six, "a"), (six, six + len(SUNNY), "a"), (six, six + len(SUNNY), "b")]
    assert part["text"][six:six + len(SUNNY)] == SUNNY
    assert part["annotations"][2]["title"] == "accuweather.com"


def test_gemini_grounds_on_google_search_and_it_comes_back_as_search_items_with_citations(
        gateway, fakes, http, alice):
    channel("gemini", fakes)
    candidate = {"content": {"role": "model", "parts": [{"text": GEMINI_TEXT}]}, "finishReason": "STOP", "index": 0,
                 "groundingMetadata": GROUNDING}
    fakes["gemini"].reply({"candidates": [candidate], "usageMetadata": GEMINI_USAGE})

    reply = post(http, alice.key, tools=[SHELL, SEARCH], max_tool_calls=3)

    assert reply.status_code == 200, reply.text
    tools = fakes["gemini"].requests[0].body["tools"]
    assert tools[0]["functionDeclarations"][0]["name"] == "shell" and tools[1] == {"google_search": {}}
    check_gemini_output(reply.json()["output"], GROUNDING["webSearchQueries"])
    billed(reply, alice.account, GEMINI_TOKENS, searches=2)


def test_a_streamed_gemini_search_gets_its_items_and_citations_at_the_end_charged_up_to_the_cap(
        gateway, fakes, http, alice):
    channel("gemini", fakes)
    text = GEMINI_TEXT
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": text[:9]}]}, "index": 0}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": text[9:]}]}, "index": 0,
                         "groundingMetadata": {"webSearchQueries": GROUNDING["webSearchQueries"][:1]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0,
                         "groundingMetadata": GROUNDING}], "usageMetadata": GEMINI_USAGE},
    ]
    body = b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\r\n\r\n" for c in chunks)
    fakes["gemini"].reply(body, chunk_size=97)

    reply = post(http, alice.key, tools=[SEARCH], max_tool_calls=1, stream=True)

    assert reply.status_code == 200, reply.text
    assert fakes["gemini"].requests[0].body["tools"] == [{"google_search": {}}]
    events = sse_events(reply.text)
    kinds = [e["type"] for e in events]
    assert kinds.count("response.output_text.annotation.added") == 3
    assert kinds.count("response.web_search_call.completed") == 2
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    final = events[-1]
    assert final["type"] == "response.completed"
    check_gemini_output(final["response"]["output"], GROUNDING["webSearchQueries"])
    billed(reply, alice.account, GEMINI_TOKENS, searches=1)  # two searches, but the request allowed one


def test_gemini_cannot_be_forced_to_search(gateway, fakes, http, alice):
    channel("gemini", fakes)
    reply = post(http, alice.key, tools=[SEARCH], tool_choice={"type": "web_search"})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tool_choice.type", reply.text
    assert not fakes["gemini"].requests


# -- the field policy still governs ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_without_a_per_call_price_or_the_channel_s_consent_web_search_is_refused(gateway, fakes, http, alice, kind):
    made = channel(kind, fakes, priced=False)
    unpriced = post(http, alice.key, tools=[SHELL, SEARCH])
    assert unpriced.status_code == 400, unpriced.text
    error = unpriced.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", "tools[1]") and "'web_search'" in error["message"]

    publish_price()
    made.options = {}  # priced now, but the channel does not run it
    made.save()
    refused = post(http, alice.key, tools=[SHELL, SEARCH])
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "tools[1]", refused.text
    assert "'web_search'" in refused.json()["error"]["message"]
    assert not fakes[kind].requests and not Hold.objects.exists()


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_drop_tools_still_drops_it(gateway, fakes, http, alice, kind):
    channel(kind, fakes, options={"drop_tools": ["web_search"]})
    reply = post(http, alice.key, tools=[SHELL, SEARCH])
    assert reply.status_code == 200, reply.text
    sent = json.dumps(fakes[kind].requests[0].body)
    assert "web_search" not in sent and "google_search" not in sent
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    assert record.tool_calls == {}


def test_max_tool_calls_zero_sends_no_search(gateway, fakes, http, alice):
    channel("anthropic", fakes)
    reply = post(http, alice.key, tools=[SHELL, SEARCH], max_tool_calls=0)
    assert reply.status_code == 200, reply.text
    assert [t["name"] for t in fakes["anthropic"].requests[0].body["tools"]] == ["shell"]
