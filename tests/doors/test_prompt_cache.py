"""Prompt caching for agents (issue 16): cache writes billed at the model's cache-write price, Anthropic
breakpoints on translated requests only when writes are priced, `prompt_cache_key` namespaced per account
on its way up, and the same key sticking to one channel. Real server, real-HTTP test upstreams."""

import json
from collections import Counter

from django.utils import timezone

from billing import services as billing_services
from billing.models import LedgerEntry, UsageRecord
from billing.money import parse_amount
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.selectors import price_current, price_snapshot
from gateway.relay.catalog import ChannelRoute
from gateway.relay.prompt_cache import sticky_seed, upstream_key
from gateway.relay.route import channel_order
from tests.e2e.conftest import wait_for
from tests.factories import make_customer

from .conftest import serve, upstream_bodies


def _priced_writes(public_id: str = "gpt-4o", write: str | None = "3.125") -> PriceSnapshot:
    billing_services.price_publish(
        model_id=public_id, input_micros=parse_amount("2.5"), cached_input_micros=parse_amount("1.25"),
        output_micros=parse_amount("10"), cache_write_micros=parse_amount(write) if write else None,
        effective_from=timezone.now(),
    )
    from gateway.relay import catalog

    catalog.clear_caches()
    return price_snapshot(price_current(model_id=public_id))


def _body(**extra):
    return {"model": "gpt-4o", "instructions": "You are terse.", "input": "Summarise the repo.",
            "tools": [{"type": "function", "name": "read_file", "parameters": {"type": "object", "properties": {}}}],
            "prompt_cache_key": "conv-42", **extra}


def _anthropic_answer(write: int, read: int) -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 50, "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
                      "output_tokens": 20}}


def test_cache_writes_are_billed_at_the_cache_write_price(http, alice, fakes):
    serve("anthropic", fakes)
    price = _priced_writes()
    fakes["anthropic"].queue(_anthropic_answer(write=1000, read=200))
    answer = http.post("/v1/responses", headers={"Authorization": f"Bearer {alice.key}"}, json=_body())
    assert answer.status_code == 200, answer.text
    usage = answer.json()["usage"]
    assert usage["input_tokens"] == 1250
    assert usage["input_tokens_details"] == {"cached_tokens": 200, "cache_write_tokens": 1000}
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    expected = charge_micros(Usage(input_tokens=1250, cached_input_tokens=200, cache_write_tokens=1000,
                                   output_tokens=20), price)
    # 50 × 2.5 + 200 × 1.25 + 1000 × 3.125 + 20 × 10 per 1M tokens
    assert expected == (50 * 2_500_000 + 200 * 1_250_000 + 1000 * 3_125_000 + 20 * 10_000_000 + 999_999) // 1_000_000
    assert record.cost_micros == expected and record.cache_write_tokens == 1000
    assert LedgerEntry.objects.get(request_id=record.request_id).amount_micros == -expected


def test_translated_requests_get_breakpoints_only_when_writes_are_priced(http, alice, fakes):
    serve("anthropic", fakes)
    _priced_writes(write=None)
    fakes["anthropic"].queue(_anthropic_answer(write=0, read=0))
    headers = {"Authorization": f"Bearer {alice.key}"}
    assert http.post("/v1/responses", headers=headers, json=_body()).status_code == 200
    assert "cache_control" not in json.dumps(upstream_bodies("anthropic", fakes)[-1])  # writes unpriced: none

    _priced_writes(write="3.125")
    fakes["anthropic"].queue(_anthropic_answer(write=0, read=0))
    assert http.post("/v1/responses", headers=headers, json=_body()).status_code == 200
    sent = upstream_bodies("anthropic", fakes)[-1]
    mark = {"type": "ephemeral"}
    assert sent["system"] == [{"type": "text", "text": "You are terse.", "cache_control": mark}]
    assert sent["tools"][-1]["cache_control"] == mark
    assert sent["messages"][-1]["content"][-1]["cache_control"] == mark
    assert json.dumps(sent).count("cache_control") == 3  # Anthropic allows four

    fakes["anthropic"].queue(_anthropic_answer(write=0, read=0))
    body = _body()
    del body["prompt_cache_key"]
    assert http.post("/v1/responses", headers=headers, json=body).status_code == 200
    assert "cache_control" not in json.dumps(upstream_bodies("anthropic", fakes)[-1])  # the client did not ask


def test_prompt_cache_key_is_namespaced_per_account_on_its_way_up(http, alice, fakes):
    serve("openai_responses", fakes)
    other_account, other_key = make_customer("carol-cache@example.com", balance="5")
    for key in (alice.key, other_key):
        answer = http.post("/v1/responses", headers={"Authorization": f"Bearer {key}"},
                           json={"model": "gpt-4o", "input": "hi", "prompt_cache_key": "conv-42"})
        assert answer.status_code == 200, answer.text
    sent = [body["prompt_cache_key"] for body in upstream_bodies("openai_responses", fakes)[-2:]]
    assert sent == [upstream_key(alice.account.pk, "conv-42"), upstream_key(other_account.pk, "conv-42")]
    assert sent[0] != sent[1] and "conv-42" not in "".join(sent)


def _channels(weights):
    return [ChannelRoute(id=i + 1, name=f"c{i}", provider="simulator", base_url="", upstream_model="m",
                         priority=0, weight=w, options={}) for i, w in enumerate(weights)]


def test_the_same_conversation_sticks_to_one_channel_and_keys_spread_by_weight():
    channels = _channels([3, 1])
    seed = sticky_seed(7, "conv-1")
    first = channel_order(channels, sticky=seed)
    assert all(channel_order(channels, sticky=seed) == first for _ in range(20))  # every turn, the same channel
    firsts = Counter(channel_order(channels, sticky=sticky_seed(7, f"conv-{n}"))[0].id for n in range(4000))
    assert 0.70 < firsts[1] / 4000 < 0.80  # weight 3 of 4
    # A channel that goes away moves only the conversations that were on it.
    three = _channels([1, 1, 1])
    before = {n: channel_order(three, sticky=sticky_seed(7, f"k{n}"))[0].id for n in range(600)}
    after = {n: channel_order(three[:2], sticky=sticky_seed(7, f"k{n}"))[0].id for n in range(600)}
    assert all(after[n] == before[n] for n in before if before[n] != 3)
    assert sticky_seed(7, "k") != sticky_seed(8, "k")  # accounts never share a seed
