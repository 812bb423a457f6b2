"""Each client door through the real server with its official SDK: text, stream, errors in the door's own
shape, exact billing (one usage record naming the door, balance drop = priced usage, no open hold)."""

import anthropic
import httpx
import openai
import pytest
from django.db.models import Sum
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage, charge_micros
from tests.e2e.conftest import wait_for

from .conftest import serve, upstream_bodies

pytestmark = pytest.mark.django_db(transaction=True)
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
TEXT = "你好，世界 👋🏽 — 总结一下接入步骤"


def openai_client(gateway, key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def anthropic_client(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)


def gemini_client(gateway, key):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url, timeout=30_000))


def billed(door: str, account, count: int = 1) -> list[UsageRecord]:
    records = wait_for(
        lambda: (rows := list(UsageRecord.objects.filter(account=account))) and len(rows) >= count and rows,
        what="usage records",
    )
    assert len(records) == count
    for record in records:
        assert record.door == door
        usage = Usage(input_tokens=record.input_tokens, cached_input_tokens=record.cached_input_tokens,
                      output_tokens=record.output_tokens)
        assert record.cost_micros == charge_micros(usage, PRICE) > 0
        assert LedgerEntry.objects.filter(request_id=record.request_id).count() == 1
    wallet = Wallet.objects.get(account=account)
    assert wallet.balance_micros == LedgerEntry.objects.filter(wallet=wallet).aggregate(s=Sum("amount_micros"))["s"]
    assert wallet.held_micros == 0 and not Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).exists()
    return records


@pytest.mark.parametrize("kind", ["simulator", "openai_chat", "openai_responses", "anthropic", "gemini"])
def test_chat_door_json_and_stream(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = openai_client(gateway, alice.key)
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": TEXT}]
    )
    assert completion.object == "chat.completion" and completion.model == "gpt-4o"
    assert completion.choices[0].message.content and completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": TEXT}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].choices == []
    billed("chat", alice.account, 2)


@pytest.mark.parametrize("kind", ["simulator", "openai_chat", "openai_responses", "anthropic", "gemini"])
def test_messages_door_json_and_stream(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = anthropic_client(gateway, alice.key)
    message = client.messages.create(model="gpt-4o", max_tokens=200, system="Be brief.",
                                     messages=[{"role": "user", "content": TEXT}])
    assert message.type == "message" and message.role == "assistant" and message.model == "gpt-4o"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    with client.messages.stream(model="gpt-4o", max_tokens=200, messages=[{"role": "user", "content": TEXT}]) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    assert streamed and final.content[0].text == streamed and final.usage.output_tokens > 0
    billed("messages", alice.account, 2)


@pytest.mark.parametrize("kind", ["simulator", "openai_chat", "openai_responses", "anthropic", "gemini"])
def test_gemini_door_json_and_stream(gateway, alice, fakes, kind):
    serve(kind, fakes)
    client = gemini_client(gateway, alice.key)
    answer = client.models.generate_content(
        model="gpt-4o", contents=TEXT, config=types.GenerateContentConfig(system_instruction="Be brief."))
    assert answer.text and answer.usage_metadata.prompt_token_count > 0
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    pieces = list(client.models.generate_content_stream(model="gpt-4o", contents=TEXT))
    assert "".join(p.text or "" for p in pieces)
    assert pieces[-1].usage_metadata.candidates_token_count > 0
    billed("gemini", alice.account, 2)


def test_errors_come_in_each_doors_own_shape(gateway, alice, bob, fakes, http):
    serve("simulator", fakes)
    # 401: a bad key, each protocol's way of sending it
    bad = http.post("/v1/chat/completions", headers={"Authorization": "Bearer sk-nope"},
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_auth_header"
    bad = http.post("/v1/messages", headers={"x-api-key": "sk-nope", "anthropic-version": "2023-06-01"},
                    json={"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 401 and bad.json() == {"type": "error", "error": {
        "type": "authentication_error", "message": bad.json()["error"]["message"]}} | (
        {"request_id": bad.json()["request_id"]} if "request_id" in bad.json() else {})
    bad = http.post("/v1beta/models/gpt-4o:generateContent", params={"key": "sk-nope"},
                    json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert bad.status_code == 401 and bad.json()["error"]["status"] == "UNAUTHENTICATED"
    # through the SDKs: 402 for an empty wallet, 404 for an unknown model, 400 for a bad field
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(gateway, bob.key).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 402 and caught.value.code == "insufficient_balance"
    with pytest.raises(anthropic.NotFoundError) as caught_a:
        anthropic_client(gateway, alice.key).messages.create(
            model="nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught_a.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client(gateway, alice.key).messages.create(
            model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}], extra_body={"container": "x"})
    bobs_gemini = gemini_client(gateway, bob.key)  # kept: google-genai closes its transport when collected
    with pytest.raises(genai_errors.ClientError) as caught_g:
        bobs_gemini.models.generate_content(model="gpt-4o", contents="hi")
    assert caught_g.value.code == 402
    assert not UsageRecord.objects.filter(account=alice.account).exists()


def test_count_tokens_is_free_and_lists_speak_the_callers_dialect(gateway, alice, fakes, http):
    serve("simulator", fakes)
    client = anthropic_client(gateway, alice.key)
    counted = client.messages.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": TEXT}])
    assert counted.input_tokens > 0
    assert not UsageRecord.objects.filter(account=alice.account).exists()
    listed = client.models.list()
    assert [model.id for model in listed.data] == ["gpt-4o"]
    gemini = gemini_client(gateway, alice.key)
    assert [m.name for m in gemini.models.list()] == ["models/gpt-4o"]
    plain = http.get("/v1/models", headers={"Authorization": f"Bearer {alice.key}"}).json()
    assert plain["object"] == "list" and plain["data"][0]["id"] == "gpt-4o"


def test_sampling_controls_reach_a_channel_that_honours_them_or_are_refused_by_name(gateway, alice, fakes):
    serve("openai_chat", fakes)
    client = openai_client(gateway, alice.key)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                   stop=["END"], seed=7)
    sent = upstream_bodies("openai_chat", fakes)[-1]
    assert sent["stop"] == ["END"] and sent["seed"] == 7
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_client(gateway, alice.key).messages.create(
            model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}], extra_body={"top_k": 5})
    assert "top_k" in str(caught.value)
    assert len(upstream_bodies("openai_chat", fakes)) == 1  # the refused request never went up


def test_an_image_and_unicode_pass_byte_exact_through_the_chat_door(gateway, alice, fakes):
    serve("openai_responses", fakes)
    pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    openai_client(gateway, alice.key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
        {"type": "text", "text": TEXT}, {"type": "image_url", "image_url": {"url": pixel}}]}])
    sent = upstream_bodies("openai_responses", fakes)[-1]
    parts = sent["input"][0]["content"]
    assert parts[0] == {"type": "input_text", "text": TEXT}
    assert parts[1]["image_url"] == pixel


def test_gemini_json_array_stream_form(gateway, alice, fakes):
    serve("simulator", fakes)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        reply = client.post("/v1beta/models/gpt-4o:streamGenerateContent", headers={"x-goog-api-key": alice.key},
                            json={"contents": [{"role": "user", "parts": [{"text": TEXT}]}]})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    chunks = reply.json()
    assert isinstance(chunks, list) and chunks[-1]["usageMetadata"]["promptTokenCount"] > 0
    billed("gemini", alice.account, 1)
