"""The truth score end to end, over real HTTP: customers' requests through the relay to an honest upstream
and to one reporting 20 % more input tokens than it read; the canaries against a trusted channel, a channel
serving the same model and one serving another. The liars are caught, demoted in routing and alerted (mail
and the signed operator webhook); the honest ones are not."""

import json
import random
from collections import Counter

import pytest
from django.core import mail

from accounts.api import webhook_signing, webhooks
from accounts.models import WebhookDelivery
from billing.db import run_db
from gateway.models import Channel
from gateway.relay import route
from gateway.relay.catalog import clear_caches, load_model_route
from gateway.upstream.truth import canary_run, ratios, score
from gateway.upstream.truth.models import CanaryReference, CanaryRun, TokenRatio, TruthScore
from tests.factories import make_channel, make_customer, make_model
from tests.routing.conftest import ask, settled

pytestmark = pytest.mark.django_db(transaction=True)
PROMPT = "Summarise the plot of a short story about a lighthouse keeper who finds a message in a bottle. " * 3


def channels(upstream, **personas) -> dict[str, Channel]:
    """One channel per name on the fake upstream, all serving gpt-4o in one tier: name=(persona, inflate, options)."""
    make_model("gpt-4o")
    made = {}
    for name, (persona, inflate, options) in personas.items():
        made[name] = make_channel(name, provider="openai_responses", base_url=upstream.serve(name, persona, inflate),
                                  secret="sk-up", models={"gpt-4o": "gpt-4o"}, options=options)  # fmt: skip
    clear_caches()
    return made


def ops_endpoint():
    endpoint, _ = webhooks.endpoint_create(account_id=None, url="https://ops.example.com/in", events=["channel.demoted"])
    return endpoint


def demoted_share(public_id: str, name: str, picks: int = 4000) -> float:
    clear_caches()
    model = load_model_route(public_id)
    assert model is not None
    rng = random.Random(7)
    firsts = Counter(route.channel_order(model.channels, rng=rng)[0].name for _ in range(picks))
    return firsts[name] / picks


async def test_inflated_usage_is_caught_and_demoted(upstream):
    made = await run_db(channels, upstream, honest=("a", 1.0, {}), inflating=("a", 1.2, {}))
    await run_db(ops_endpoint)
    _, key = await run_db(make_customer, "truth@example.com", balance="100")
    for _ in range(60):
        reply = await ask(key, model="gpt-4o", input=PROMPT)
        assert reply.status == 200
    await settled()
    assert len(upstream.channels["honest"].requests) >= 10 and len(upstream.channels["inflating"].requests) >= 10
    await run_db(ratios.drain)

    rows = {r.channel.name: r for r in await run_db(lambda: list(TokenRatio.objects.select_related("channel")))}
    honest, inflating = ratios.stats(rows["honest"]), ratios.stats(rows["inflating"])
    assert honest is not None and inflating is not None
    assert honest.vocabulary == "o200k" and honest.median == 1.0 and not honest.inflated()
    assert 1.19 <= inflating.median <= 1.21 and inflating.inflated()
    assert rows["honest"].samples + rows["inflating"].samples == 60

    summary = await run_db(score.score_all)
    assert summary.demoted == [(made["inflating"].pk, "gpt-4o")]
    scores = {s.channel_id: s for s in await run_db(lambda: list(TruthScore.objects.all()))}
    assert scores[made["honest"].pk].score == 100 and scores[made["honest"].pk].demoted_until is None
    lost = round((inflating.median - 1) * score.INFLATION_POINTS_PER_UNIT)  # ~20 % over: ~60 points
    demoted = scores[made["inflating"].pk]
    assert 58 <= lost <= 60 and demoted.score == 100 - lost and demoted.evidence["ratio"]["inflated"]

    assert _alerts() == [f"[Django] Channel inflating demoted for gpt-4o: truth score {demoted.score}"]
    [hook] = await run_db(lambda: list(WebhookDelivery.objects.filter(event_type="channel.demoted")))
    assert hook.payload["data"]["channel"] == made["inflating"].pk and hook.payload["data"]["score"] == demoted.score

    share = await run_db(demoted_share, "gpt-4o", "inflating")
    assert 0.05 < share < 0.14  # weight 1 × 0.1 against 1: ~9 % first, still measured
    again = await run_db(score.score_all)
    assert again.demoted == [] and len(_alerts()) == 1  # alerted once per demotion


def test_a_substituted_model_drifts_on_the_canaries_and_is_demoted(upstream, receiver):
    made = channels(upstream, trusted=("a", 1.0, {"truth_reference": True}), same=("a", 1.0, {}),
                    substitute=("b", 1.0, {}))  # fmt: skip
    _, secret = webhooks.endpoint_create(account_id=None, url=receiver.url, events=["channel.demoted"])
    runs = canary_run.run_all()
    assert CanaryReference.objects.filter(model_id="gpt-4o", source_channel=made["trusted"]).count() == 3
    verdicts = {(r.channel.name, r.canary): r.verdict for r in CanaryRun.objects.select_related("channel")}
    assert len(runs) == 9
    for name in ("trusted", "same"):
        assert [verdicts[(name, c)] for c in ("short", "tool", "schema")] == ["match"] * 3
    assert [verdicts[("substitute", c)] for c in ("short", "tool", "schema")] == ["drift"] * 3
    tool_runs = upstream.channels["same"].requests
    assert [r["input"][-1]["type"] if isinstance(r["input"], list) else "text" for r in tool_runs].count(
        "function_call_output"
    ) == 1  # the tool round trip went back with our result
    drifts = {r.canary: r.detail for r in CanaryRun.objects.filter(channel=made["substitute"])}
    assert "differs" in drifts["short"] and "Paris, France" in drifts["tool"] and "letters is not an integer" in drifts["schema"]

    summary = score.score_all()
    assert summary.demoted == [(made["substitute"].pk, "gpt-4o")]
    assert TruthScore.objects.get(channel=made["substitute"]).score == 25
    assert TruthScore.objects.get(channel=made["same"]).score == 100
    [alert] = _alerts()
    assert "substitute" in alert
    _send_pending()  # queued on commit; sent here whatever state a full run left Celery's test broker in
    [(headers, body)] = receiver.received  # the signed operator webhook, delivered over HTTPS
    assert webhook_signing.verify(secret, headers, body)
    event = json.loads(body)
    assert event["type"] == "channel.demoted" and event["data"]["channel"] == made["substitute"].pk
    assert event["data"]["score"] == 25 and len(event["data"]["reasons"]) == 3
    model = load_model_route("gpt-4o")
    assert model is not None
    assert {c.name: c.truth_factor for c in model.channels} == {"trusted": 1.0, "same": 1.0, "substitute": 0.1}

    # The substitute is fixed (serves the real model again): its canaries match, the score recovers, the demotion goes.
    upstream.channels["substitute"].persona = "a"
    canary_run.run_channels([made["substitute"].pk])
    restored = score.score_all()
    assert restored.restored == [(made["substitute"].pk, "gpt-4o")]
    assert TruthScore.objects.get(channel=made["substitute"]).demoted_until is None


def _alerts() -> list[str]:
    """The operators' demotion mails (other mails of the run, e.g. a log mail about the test broker, aside)."""
    return [m.subject for m in mail.outbox if " demoted for " in m.subject]


def _send_pending() -> None:
    """Send the webhook deliveries still pending, in this process (a sent one is never sent again)."""
    from accounts.api import webhooks
    from accounts.models import WebhookDelivery

    for delivery in WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING):
        webhooks.attempt(delivery.pk)
