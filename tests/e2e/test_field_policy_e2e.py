"""The field policy (H1) and private-URL refusal (L7) over real HTTP, through a Responses passthrough channel
on the test upstream: what a channel does not allow never reaches an upstream and takes no hold; what the
operator allows goes through, and hosted-tool calls are held for and charged to the micro."""

import json

import pytest
from django.db.models import Sum

from billing import services as billing_services
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.money import decimal_string
from billing.pricing import PriceSnapshot, Usage, charge_micros, estimate_micros
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens, uncounted_input_tokens
from tests.upstream.server import answer_responses

from .conftest import serve_model, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "gpt-4o-resp"
WEB_SEARCH_MICROS = 25_000  # ¥0.025 per call
PRICE = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000, tool_call_micros=(("web_search", WEB_SEARCH_MICROS),))
ASK = [{"role": "user", "content": [{"type": "input_text", "text": "今天北京天气"}]}]

REFUSED = [
    ({"background": True}, "background"),
    ({"conversation": "conv_123"}, "conversation"),
    ({"prompt": {"id": "pmpt_123", "version": "2"}}, "prompt"),
    ({"input": [{"type": "item_reference", "id": "msg_123"}]}, "item_reference"),
    ({"store": True}, "store"),
    ({"tools": [{"type": "web_search"}]}, "web_search"),
    ({"context_management": [{"type": "compaction"}]}, "context_management"),
]


def post(http, key: str, **body):
    return http.post("/v1/responses", json={"model": MODEL, "input": ASK, **body}, headers={"authorization": f"Bearer {key}"})


def price_tools(model: str = MODEL) -> None:
    billing_services.price_publish(
        model_id=model,
        input_micros=PRICE.input_micros,
        cached_input_micros=PRICE.cached_input_micros,
        output_micros=PRICE.output_micros,
        tool_call_micros=dict(PRICE.tool_call_micros),
    )


def books_close(account) -> None:
    wallet = Wallet.objects.get(account=account)
    ledger = LedgerEntry.objects.filter(wallet=wallet).aggregate(total=Sum("amount_micros"))["total"] or 0
    assert wallet.balance_micros == ledger and wallet.held_micros == 0


@pytest.mark.parametrize(("extra", "name"), REFUSED, ids=[name for _, name in REFUSED])
def test_unmetered_or_stateful_work_is_refused_before_any_hold(gateway, upstream, http, alice, extra, name):
    serve_model("openai_responses", upstream, public_id=MODEL)
    price_tools()
    reply = post(http, alice.key, **extra)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "unsupported_parameter"
    assert f"'{name}'" in error["message"]
    assert error["param"] == {"item_reference": "input[0]", "web_search": "tools[0]"}.get(name, name)
    assert upstream.received() == []  # the upstream never saw it
    assert not Hold.objects.exists() and not LedgerEntry.objects.filter(kind="charge").exists()


@pytest.mark.parametrize(("extra", "name"), REFUSED[:-2], ids=[name for _, name in REFUSED[:-2]])
def test_the_operator_may_enable_a_field_on_a_channel(gateway, upstream, http, alice, extra, name):
    serve_model("openai_responses", upstream, public_id=MODEL, options={"allow_fields": [name]})
    reply = post(http, alice.key, **extra)
    assert reply.status_code == 200, reply.text
    sent = upstream.received()[-1].body
    for field, value in extra.items():
        assert sent[field] == value
    assert sent["store"] is (name == "store")  # nothing stored upstream unless the channel allows it
    wait_for(lambda: UsageRecord.objects.filter(status=200).exists(), what="the usage record")


def test_store_defaults_to_false_upstream_and_follow_ups_still_work(gateway, upstream, http, alice):
    serve_model("openai_responses", upstream, public_id=MODEL)
    first = post(http, alice.key)
    assert first.status_code == 200 and upstream.received()[-1].body["store"] is False
    follow = post(http, alice.key, previous_response_id=first.json()["id"])
    assert follow.status_code == 200, follow.text
    assert upstream.received()[-1].body["previous_response_id"].startswith("resp_")


def test_channels_that_do_not_allow_a_field_are_skipped(gateway, upstream, http, alice):
    plain = serve_model("openai_responses", upstream, public_id=MODEL, name="plain")
    plain.priority = 10  # tried first whenever it may be
    plain.save()
    willing = serve_model("openai_responses", upstream, public_id=MODEL, name="willing", options={"allow_fields": ["background"]})
    assert post(http, alice.key, background=True).status_code == 200
    assert post(http, alice.key).status_code == 200
    records = wait_for(lambda: list(UsageRecord.objects.order_by("created_at")) if UsageRecord.objects.count() == 2 else None)
    assert [r.channel_id for r in records] == [willing.pk, plain.pk]
    assert [len(r.attempts) for r in records] == [1, 1]  # the unwilling channel was never tried


@pytest.mark.parametrize("stream", [False, True])
def test_hosted_tool_calls_are_held_for_and_charged_per_call(gateway, upstream, http, alice, stream):
    serve_model("openai_responses", upstream, public_id=MODEL, options={"allow_tools": ["web_search"]})
    price_tools()
    body = {"model": MODEL, "input": ASK, "tools": [{"type": "web_search"}], "max_tool_calls": 3, "stream": stream}
    reply = http.post("/v1/responses", json=body, headers={"authorization": f"Bearer {alice.key}"})
    assert reply.status_code == 200, reply.text
    request_id = reply.headers["x-request-id"]
    sent = upstream.received()[-1].body
    assert sent["tools"] == [{"type": "web_search"}] and sent["max_tool_calls"] == 3 and sent["store"] is False

    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="the usage record")
    answer = answer_responses(sent)
    assert record.tool_calls == {"web_search": 2}  # the test upstream ran the search twice
    tokens = Usage(input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
    assert (record.input_tokens, record.output_tokens) == (tokens.input_tokens, tokens.output_tokens)
    assert record.cost_micros == charge_micros(tokens, PRICE) + 2 * WEB_SEARCH_MICROS
    assert LedgerEntry.objects.get(request_id=request_id).amount_micros == -record.cost_micros

    parsed = parse_request(json.dumps(body).encode())
    held_tokens = count_request_tokens(parsed.typed) + uncounted_input_tokens(parsed.typed, parsed.raw)
    hold = Hold.objects.get(request_id=request_id)
    assert hold.amount_micros == estimate_micros(held_tokens, 4096, PRICE, 3 * WEB_SEARCH_MICROS)
    assert hold.status == Hold.Status.SETTLED
    if stream:
        last = json.loads(reply.text.strip().split("\n\n")[-1].split("data: ", 1)[1])
        assert last["type"] == "response.completed"
        assert last["response"]["usage"]["cost"] == decimal_string(record.cost_micros)
    else:
        assert reply.headers["x-harnmodel-cost"] == decimal_string(record.cost_micros)
    books_close(alice.account)


def test_hosted_tools_without_max_tool_calls_get_the_default_cap(gateway, upstream, http, alice):
    serve_model("openai_responses", upstream, public_id=MODEL, options={"allow_tools": ["web_search"]})
    price_tools()
    assert post(http, alice.key, tools=[{"type": "web_search"}]).status_code == 200
    assert upstream.received()[-1].body["max_tool_calls"] == 8


def test_a_hosted_tool_without_a_per_call_price_is_refused(gateway, upstream, http, alice):
    serve_model("openai_responses", upstream, public_id=MODEL, options={"allow_tools": ["web_search", "file_search"]})
    price_tools()  # web_search only
    reply = post(http, alice.key, tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}])
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", "tools[0]")
    assert upstream.received() == [] and not Hold.objects.exists()


def image(url: str) -> list:
    return [{"role": "user", "content": [{"type": "input_text", "text": "看图"}, {"type": "input_image", "image_url": url}]}]


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/cat.png", "http://0x7f.1/", "http://[::1]/"]
)
def test_private_image_urls_are_refused_on_every_channel_kind(gateway, upstream, http, alice, kind, url):
    serve_model(kind, upstream, public_id=MODEL)
    reply = post(http, alice.key, input=image(url))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "url_not_allowed")
    assert error["param"] == "input[0].content[1].image_url"
    assert upstream.received() == [] and not Hold.objects.exists()


def test_an_allowlisted_internal_host_is_accepted(gateway, upstream, http, alice):
    serve_model("openai_responses", upstream, public_id=MODEL, options={"allow_url_hosts": ["10.0.0.0/8"]})
    reply = post(http, alice.key, input=image("http://10.0.0.7/cat.png"))
    assert reply.status_code == 200, reply.text
    assert upstream.received()[-1].body["input"][0]["content"][1]["image_url"] == "http://10.0.0.7/cat.png"
    refused = post(http, alice.key, input=image("http://169.254.169.254/"))  # not on the list
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "url_not_allowed"
    public = post(http, alice.key, input=image("https://example.com/cat.png"))
    assert public.status_code == 200
