"""Health probes against the Anthropic and Gemini test upstreams (real HTTP): a healthy channel passes,
a dead key disables it (Gemini says so with a 400, not a 401), a rate limit never does, and a channel
with extended thinking is probed without a thinking budget its tiny max_tokens could never exceed."""

import pytest

from billing.db import run_db
from gateway.models import Channel, ChannelProbe
from gateway.observe import health
from gateway.pool.fatal import fatal_reason
from tests.factories import make_channel, make_model
from tests.routing.conftest import MODEL
from tests.upstream.anthropic_mock import error_body

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "upstream-key"
# Google's answer to a bad key (400 INVALID_ARGUMENT + ErrorInfo reason API_KEY_INVALID).
GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}
# Google's per-minute limit: the wording says "quota", but it passes in a minute.
GEMINI_RATE_LIMIT = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details. "
        "Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        "limit: 10. Please retry in 21.5s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"},
        ],
    }
}
# A plain invalid argument (nothing about the key): the channel works, never disabled.
GEMINI_BAD_REQUEST = {"error": {"code": 400, "message": "Invalid value at 'contents'.", "status": "INVALID_ARGUMENT"}}


@pytest.fixture
def anthropic(anthropic):  # the shared fixture (tests/routing/conftest.py), with the key these channels use
    anthropic.expected_key = KEY
    return anthropic


def channel_on(provider: str, base_url: str, **options) -> Channel:
    make_model(MODEL)
    return make_channel(
        provider, provider=provider, base_url=base_url, secret=KEY, models={MODEL: "up-model"}, options=options
    )


async def state(pk: int) -> tuple[Channel, list[ChannelProbe]]:
    return await run_db(Channel.objects.get, pk=pk), await run_db(
        lambda: list(ChannelProbe.objects.filter(channel_id=pk).order_by("pk"))
    )


# -- Anthropic ------------------------------------------------------------------------------------


async def test_a_healthy_anthropic_channel_passes(anthropic):
    ch = await run_db(channel_on, "anthropic", anthropic.base_url)
    summary = await health.run_probes()
    assert (summary.probed, summary.disabled) == (1, [])
    [sent] = anthropic.requests
    assert sent.body["model"] == "up-model" and sent.headers["x-api-key"] == KEY
    assert 1 <= sent.body["max_tokens"] <= 16
    channel, [probe] = await state(ch.pk)
    assert probe.ok and probe.status == 200 and channel.last_probe_ok is True


async def test_a_thinking_anthropic_channel_is_probed_without_a_budget_above_max_tokens(anthropic):
    ch = await run_db(channel_on, "anthropic", anthropic.base_url, thinking={"type": "enabled", "budget_tokens": 2048})
    await health.run_probes()
    [sent] = anthropic.requests
    thinking = sent.body.get("thinking") or {}
    # Anthropic refuses max_tokens <= thinking.budget_tokens with a 400: the probe never sends that.
    assert thinking.get("type") != "enabled" or sent.body["max_tokens"] > thinking["budget_tokens"]
    channel, [probe] = await state(ch.pk)
    assert probe.ok and channel.enabled


async def test_a_dead_anthropic_key_disables_and_a_good_one_re_enables(anthropic):
    ch = await run_db(channel_on, "anthropic", anthropic.base_url)
    anthropic.expected_key = "another key"  # the mock answers 401 authentication_error
    summary = await health.run_probes()
    assert summary.disabled == [ch.pk]
    channel, _ = await state(ch.pk)
    assert channel.enabled is False and channel.disabled_reason == "health: upstream refused the credentials (HTTP 401)"
    anthropic.expected_key = KEY
    assert (await health.run_probes()).enabled == [ch.pk]


@pytest.mark.parametrize(
    ("status", "body", "fatal"),
    [
        (429, error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), ""),
        (529, error_body("overloaded_error", "Overloaded"), ""),
        (402, error_body("billing_error", "Your account has a billing issue."), "quota exhausted (HTTP 402)"),
        (
            400,
            error_body("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
            "quota exhausted (HTTP 400)",
        ),
    ],
    ids=["rate-limit", "overloaded", "billing", "credit-balance"],
)
async def test_anthropic_errors_disable_only_for_billing(anthropic, status, body, fatal):
    ch = await run_db(channel_on, "anthropic", anthropic.base_url)
    anthropic.queue(body, status=status)
    await health.run_probes()
    channel, [probe] = await state(ch.pk)
    assert probe.ok is False and probe.status == status
    assert channel.enabled is (not fatal)
    assert channel.disabled_reason == (f"health: upstream {fatal}" if fatal else "")


# -- Gemini ---------------------------------------------------------------------------------------


async def test_a_healthy_gemini_channel_passes(gemini):
    ch = await run_db(channel_on, "gemini", gemini.api_base)
    summary = await health.run_probes()
    assert (summary.probed, summary.disabled) == (1, [])
    [sent] = gemini.requests
    assert sent.model == "up-model" and sent.method == "generateContent"
    assert 1 <= sent.body["generationConfig"]["maxOutputTokens"] <= 16
    channel, [probe] = await state(ch.pk)
    assert probe.ok and channel.last_probe_ok is True


async def test_a_dead_gemini_key_disables_although_google_says_400(gemini):
    ch = await run_db(channel_on, "gemini", gemini.api_base)
    gemini.reply(GEMINI_BAD_KEY, status=400)
    summary = await health.run_probes()
    assert summary.disabled == [ch.pk]
    channel, [probe] = await state(ch.pk)
    assert channel.enabled is False and channel.disabled_reason == "health: upstream refused the credentials (HTTP 400)"
    assert probe.status == 400 and "credentials" in probe.error
    assert (await health.run_probes()).enabled == [ch.pk]  # the key works again


@pytest.mark.parametrize(
    ("status", "body"),
    [(429, GEMINI_RATE_LIMIT), (400, GEMINI_BAD_REQUEST), (503, {"error": {"code": 503, "status": "UNAVAILABLE"}})],
    ids=["per-minute-quota", "invalid-argument", "unavailable"],
)
async def test_gemini_rate_limits_and_other_errors_never_disable(gemini, status, body):
    ch = await run_db(channel_on, "gemini", gemini.api_base)
    gemini.reply(body, status=status)
    summary = await health.run_probes()
    assert summary.disabled == []
    channel, [probe] = await state(ch.pk)
    assert channel.enabled is True and probe.ok is False and probe.status == status


# -- the rule itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "fatal"),
    [
        (429, b'{"error":{"message":"Rate limit reached for requests","type":"requests"}}', False),
        (429, b'{"error":{"message":"You exceeded your current quota.","code":"rate_limit_exceeded"}}', False),
        (429, b'{"error":{"message":"You exceeded your current quota.","code":"insufficient_quota"}}', True),
        (429, b'[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"billing_hard_limit"}}]', False),
        (400, b'[{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]', True),
        (400, b'{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"API_KEY_INVALID"}}', False),
        (400, b"not json", False),
    ],
)
def test_fatal_needs_an_explicit_signal(status, body, fatal):
    assert bool(fatal_reason(status, body)) is fatal
