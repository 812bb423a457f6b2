"""Money, end to end: the real server bills every request exactly once, whatever the client does.

After each scenario the books must close: one UsageRecord and one charge per request, the charge equal to the
usage at the model's price, the wallet's balance equal to the sum of its ledger, nothing left held.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from django.db.models import Sum

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.money import decimal_string, parse_amount
from billing.pricing import PriceSnapshot, Usage, affordable_output_tokens, charge_micros
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens
from tests.factories import make_customer
from tests.upstream.server import answer_chat, answer_responses

from .conftest import UPSTREAM_MODEL, serve_model, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# make_model's default price: ¥2.5 input, ¥1.25 cached input, ¥10 output per 1M tokens.
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
INSTRUCTIONS = "使用简洁中文回答。"
DOC_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤"}]}]
LONG_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤，" * 12}]}]
MODELS = {"simulator": "gpt-4o", "openai_responses": "gpt-4o-resp", "openai_chat": "gpt-4o-chat"}
ALICE_FUNDS = parse_amount("100")


def expected_cost(record: UsageRecord) -> int:
    usage = Usage(
        input_tokens=record.input_tokens,
        cached_input_tokens=record.cached_input_tokens,
        output_tokens=record.output_tokens,
    )
    return charge_micros(usage, PRICE)


def billed_once(request_id: str) -> UsageRecord:
    """Exactly one usage record and one charge for this request, the charge priced right, the hold closed."""
    records = list(UsageRecord.objects.filter(request_id=request_id))
    assert len(records) == 1
    record = records[0]
    assert record.cost_micros == expected_cost(record) > 0
    charges = list(LedgerEntry.objects.filter(request_id=request_id))
    assert len(charges) == 1
    charge = charges[0]
    assert charge.kind == LedgerEntry.Kind.CHARGE
    assert charge.idempotency_key == f"charge:{request_id}"
    assert charge.amount_micros == -record.cost_micros
    assert Hold.objects.get(request_id=request_id).status == Hold.Status.SETTLED
    return record


def books_close(account) -> Wallet:
    wallet = Wallet.objects.get(account=account)
    ledger = LedgerEntry.objects.filter(wallet=wallet).aggregate(total=Sum("amount_micros"))["total"] or 0
    assert wallet.balance_micros == ledger
    assert wallet.held_micros == 0
    assert not Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).exists()
    assert wallet.balance_micros >= 0
    return wallet


def settled(request_id: str, timeout: float = 10.0) -> UsageRecord:
    return wait_for(
        lambda: UsageRecord.objects.filter(request_id=request_id).first(),
        timeout=timeout,
        what=f"the usage record of {request_id}",
    )


def upstream_usage(kind: str, body: dict) -> tuple[int, int]:
    answer = answer_responses(body) if kind == "openai_responses" else answer_chat(body)
    return answer.input_tokens, answer.output_tokens


# -- every request, once ------------------------------------------------------------------------------


def test_each_request_has_one_usage_record_and_one_charge(gateway, upstream, alice):
    channels = {kind: serve_model(kind, upstream, public_id=model) for kind, model in MODELS.items()}
    client = gateway.client(alice.key)
    done = []  # (kind, request_id, usage the client saw, cost header or None, balance header or None)
    for kind, model in MODELS.items():
        raw = client.responses.with_raw_response.create(model=model, instructions=INSTRUCTIONS, input=DOC_INPUT)
        response = raw.parse()
        done.append((kind, raw.headers["x-request-id"], response.usage, raw.headers["x-harnmodel-cost"], raw.headers))
        with client.responses.with_streaming_response.create(
            model=model, instructions=INSTRUCTIONS, input=DOC_INPUT, stream=True
        ) as raw_stream:
            assert parse_amount(raw_stream.headers["x-harnmodel-hold"]) > 0
            events = list(raw_stream.parse())
        assert events[-1].type == "response.completed"
        done.append((kind, raw_stream.headers["x-request-id"], events[-1].response.usage, None, None))

    assert len({request_id for _, request_id, *_ in done}) == len(done) == 6
    wait_for(lambda: UsageRecord.objects.count() == len(done), what="six usage records")
    total = 0
    for kind, request_id, usage, cost_header, headers in done:
        record = billed_once(request_id)
        total += record.cost_micros
        assert (record.input_tokens, record.output_tokens) == (usage.input_tokens, usage.output_tokens)
        assert record.model_id == MODELS[kind]
        assert record.account_id == alice.account.pk
        assert record.channel_id == channels[kind].pk
        assert record.status == 200 and record.error_code == ""
        assert record.usage_estimated is False
        if kind != "simulator":
            assert record.upstream_model == UPSTREAM_MODEL
        if cost_header is not None:
            # The header the client got is exactly what the ledger charged, and the balance after it.
            assert cost_header == decimal_string(record.cost_micros)
            assert parse_amount(cost_header) == -LedgerEntry.objects.get(request_id=request_id).amount_micros
            charge = LedgerEntry.objects.get(request_id=request_id)
            assert headers["x-harnmodel-balance"] == decimal_string(charge.balance_after_micros)
            assert record.stream is False
        else:
            assert record.stream is True
    received = upstream.received()
    assert len(received) == 4  # two requests each through the two upstream channels; none for the simulator
    assert all(r.body["model"] == UPSTREAM_MODEL for r in received)
    wallet = books_close(alice.account)
    assert wallet.balance_micros == ALICE_FUNDS - total


def test_upstream_usage_is_what_gets_billed(gateway, upstream, alice):
    """Through a real upstream, the tokens billed are the upstream's own counts, not estimates."""
    client = gateway.client(alice.key)
    for kind in ("openai_responses", "openai_chat"):
        serve_model(kind, upstream, public_id=MODELS[kind])
        for stream in (False, True):
            upstream.reset()
            with client.responses.with_streaming_response.create(
                model=MODELS[kind], input=LONG_INPUT, stream=stream
            ) as raw:
                request_id = raw.headers["x-request-id"]
                raw.read()
            settled(request_id)
            record = billed_once(request_id)
            [received] = upstream.received()
            assert (record.input_tokens, record.output_tokens) == upstream_usage(kind, received.body)
            assert record.usage_estimated is False
    books_close(alice.account)


def test_concurrent_requests_on_one_wallet(gateway, upstream, alice):
    serve_model("simulator", upstream)
    client = gateway.client(alice.key)

    def call(index: int) -> str:
        raw = client.responses.with_raw_response.create(model="gpt-4o", input=f"第 {index} 个请求")
        return raw.headers["x-request-id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        request_ids = list(pool.map(call, range(12)))
    assert len(set(request_ids)) == 12
    costs = sum(billed_once(request_id).cost_micros for request_id in request_ids)
    assert books_close(alice.account).balance_micros == ALICE_FUNDS - costs


def test_small_balance_caps_the_output_the_upstream_may_produce(gateway, upstream):
    """A wallet that cannot pay for 4096 output tokens is not refused: the upstream is told a smaller cap."""
    serve_model("openai_responses", upstream)
    account, key = make_customer("erin@example.com", balance="0.001")
    body = {"model": "gpt-4o", "instructions": INSTRUCTIONS, "input": DOC_INPUT}
    input_tokens = count_request_tokens(parse_request(json.dumps(body).encode()).typed)
    cap = affordable_output_tokens(parse_amount("0.001"), input_tokens, PRICE)
    assert 0 < cap < 4096
    raw = gateway.client(key).responses.with_raw_response.create(**body)
    assert raw.parse().status == "completed"
    [received] = upstream.received()
    assert received.body["max_output_tokens"] == cap
    record = billed_once(raw.headers["x-request-id"])
    wallet = books_close(account)
    assert wallet.balance_micros == parse_amount("0.001") - record.cost_micros


def test_a_wallet_that_pays_for_three_tokens_gets_an_incomplete_answer_not_a_402(gateway, upstream):
    """The hold caps the output at what the balance pays for: the answer is cut (`incomplete`,
    `max_output_tokens`), charged at most the balance, and the wallet never goes below zero."""
    serve_model("simulator", upstream)
    body = {"model": "gpt-4o", "instructions": INSTRUCTIONS, "input": DOC_INPUT}
    input_tokens = count_request_tokens(parse_request(json.dumps(body).encode()).typed)
    funds = -(-(input_tokens * PRICE.input_micros + 3 * PRICE.output_micros) // 1_000_000)  # micros, rounded up
    account, key = make_customer("frank@example.com", balance=decimal_string(funds))
    assert affordable_output_tokens(funds, input_tokens, PRICE) == 3
    raw = gateway.client(key).responses.with_raw_response.create(**body)
    response = raw.parse()
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert 0 < response.usage.output_tokens <= 3
    record = billed_once(raw.headers["x-request-id"])
    assert record.cost_micros <= funds
    assert books_close(account).balance_micros == funds - record.cost_micros >= 0


def test_refused_and_failed_requests_cost_nothing(gateway, upstream, alice, bob):
    serve_model("openai_responses", upstream)
    with pytest.raises(openai.APIStatusError):
        gateway.client(bob.key).responses.create(model="gpt-4o", input=DOC_INPUT)
    upstream.fail_next = (500, {"error": {"message": "boom"}})
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(model="gpt-4o", input=DOC_INPUT)
    record = settled(caught.value.request_id)
    assert (record.status, record.error_code, record.cost_micros) == (502, "upstream_error", 0)
    assert Hold.objects.get(request_id=record.request_id).status == Hold.Status.RELEASED
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).exists()
    assert books_close(alice.account).balance_micros == ALICE_FUNDS
    assert books_close(bob.account).balance_micros == 0


# -- streams that end early ------------------------------------------------------------------------


def read_a_few_events_then_hang_up(http, key: str, body: dict, events: int = 5) -> tuple[str, list[str]]:
    """Open a stream, read `events` events, close the connection. Returns the request id and events seen."""
    seen: list[str] = []
    with http.stream(
        "POST", "/v1/responses", json={**body, "stream": True}, headers={"authorization": f"Bearer {key}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
                if len(seen) >= events:
                    break
    return request_id, seen


def test_client_hangs_up_mid_stream_simulator(gateway, http, upstream, alice):
    serve_model("simulator", upstream, options={"latency_ms": 0, "token_delay_ms": 30})
    body = {"model": "gpt-4o", "instructions": INSTRUCTIONS, "input": DOC_INPUT}
    request_id, seen = read_a_few_events_then_hang_up(http, alice.key, body)
    assert "response.completed" not in seen and "response.output_text.delta" in seen
    settled(request_id)
    record = billed_once(request_id)
    assert record.stream is True
    assert record.output_tokens > 10  # the whole answer: the stream went on after the client left
    time.sleep(0.5)  # nothing more may arrive later
    assert UsageRecord.objects.filter(request_id=request_id).count() == 1
    assert LedgerEntry.objects.filter(request_id=request_id).count() == 1
    wallet = books_close(alice.account)
    assert wallet.balance_micros == ALICE_FUNDS - record.cost_micros


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
def test_client_hangs_up_mid_stream_upstream_usage_still_billed(gateway, http, upstream, alice, kind):
    serve_model(kind, upstream)
    upstream.chunk_delay = 0.03
    body = {"model": "gpt-4o", "input": LONG_INPUT}
    request_id, seen = read_a_few_events_then_hang_up(http, alice.key, body)
    assert "response.completed" not in seen
    settled(request_id)
    record = billed_once(request_id)
    [received] = upstream.received()
    # The gateway kept reading the upstream after the client left, for its own usage numbers.
    assert (record.input_tokens, record.output_tokens) == upstream_usage(kind, received.body)
    assert record.usage_estimated is False
    time.sleep(0.3)
    assert UsageRecord.objects.filter(request_id=request_id).count() == 1
    books_close(alice.account)


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
def test_upstream_breaks_mid_stream(gateway, upstream, alice, kind):
    """The upstream drops the connection mid-answer: the client gets an error event, and is billed once for
    what it received (estimated, since no usage ever came)."""
    serve_model(kind, upstream)
    upstream.cut_after = 6
    client = gateway.client(alice.key)
    types = []
    with client.responses.with_streaming_response.create(model="gpt-4o", input=LONG_INPUT, stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as caught:
            for event in raw.parse():
                types.append(event.type)
    assert "response.completed" not in types
    assert "server_error" in str(caught.value.body) or caught.value.code == "server_error"
    record = settled(request_id)
    assert record.usage_estimated is True
    assert record.error_code == "upstream_stream_broken"
    assert record.output_tokens > 0
    billed_once(request_id)
    books_close(alice.account)
