"""Every error on our doc page, as the official SDK (and a raw HTTP client) sees it from the real server.

Doc page: 400 invalid_request_error, 401 invalid_auth_header, 402 insufficient_balance (refused before any
upstream call), 403 model_not_allowed, 503 model_not_available; plus 404 model_not_found and the mapping of
upstream failures (502, 429, 400), which must never leak the upstream's URL or credential.
"""

import json
from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from gateway.models import ApiKey, Channel
from gateway.services import api_key_create, api_key_revoke
from tests.factories import make_channel, make_customer, make_model

from .conftest import UPSTREAM_MODEL, UPSTREAM_SECRET, free_port, serve_model, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DOC_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤"}]}]
VALID = {"model": "gpt-4o", "input": DOC_INPUT}


@pytest.fixture
def routed(upstream):
    """gpt-4o goes to the test upstream, so 'no upstream call' is observable."""
    return serve_model("openai_responses", upstream)


def error_of(response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def check_sdk_error(exc, *, status: int, code: str, type: str, param: str | None = None, retry: bool = False):
    assert exc.status_code == status
    assert exc.code == code
    assert exc.type == type
    assert exc.param == param
    assert isinstance(exc.message, str) and exc.message
    assert exc.response.headers["x-should-retry"] == ("true" if retry else "false")
    assert exc.response.headers["x-request-id"].startswith("req_")
    assert exc.request_id == exc.response.headers["x-request-id"]


# -- 400 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"model": "gpt-4o", "input": [', b"", b"[1, 2, 3]", b'{"model": "gpt-4o", "input": "x"}}', b"model=gpt-4o"],
    ids=["truncated", "empty", "array", "trailing", "form"],
)
def test_unparseable_body_is_400(http, routed, upstream, alice, body):
    response = http.post(
        "/v1/responses",
        content=body,
        headers={"authorization": f"Bearer {alice.key}", "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request_error"
    assert response.headers["x-should-retry"] == "false"
    assert upstream.received() == []


def test_body_not_utf8_is_400(http, routed, upstream, alice):
    response = http.post(
        "/v1/responses",
        content='{"model": "gpt-4o", "input": "总结"}'.encode("gb18030"),
        headers={"authorization": f"Bearer {alice.key}", "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert upstream.received() == []


@pytest.mark.parametrize("missing", ["model", "input"])
def test_missing_required_field_is_400(gateway, routed, upstream, alice, missing):
    client = gateway.client(alice.key)
    arguments = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**arguments)
    exc = caught.value
    assert exc.status_code == 400
    assert exc.type == "invalid_request_error"
    assert exc.param == missing
    assert missing in exc.message
    assert exc.response.headers["x-should-retry"] == "false"
    assert upstream.received() == []


@pytest.mark.parametrize("missing", ["model", "input"])
def test_missing_required_field_code_is_the_doc_pages(gateway, routed, alice, missing):
    client = gateway.client(alice.key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**{k: v for k, v in VALID.items() if k != missing})
    assert caught.value.code == "invalid_request_error"


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "hot"), ("top_p", "high"), ("max_output_tokens", "many"), ("input", 42), ("stream", "yes")],
)
def test_wrong_type_is_400_naming_the_field(gateway, routed, upstream, alice, field, value):
    client = gateway.client(alice.key)
    arguments = {**VALID, field: value} if field != "stream" else {**VALID, "extra_body": {"stream": value}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**arguments)
    check_sdk_error(caught.value, status=400, code="invalid_request_error", type="invalid_request_error", param=field)
    assert upstream.received() == []


def test_out_of_range_value_is_400(gateway, routed, upstream, alice):
    client = gateway.client(alice.key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**VALID, temperature=5)
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param == "temperature"
    assert upstream.received() == []


# -- 401 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-key", "sk-no-scheme", "Bearer sk-" + "x" * 300],
    ids=["absent", "empty", "scheme-only", "basic", "not-sk", "no-scheme", "too-long"],
)
def test_missing_or_malformed_auth_header_is_401(http, routed, upstream, authorization):
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    response = http.post("/v1/responses", content=json.dumps(VALID), headers=headers)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "invalid_auth_header"
    assert error["type"] == "authentication_error"
    assert response.headers["x-should-retry"] == "false"
    assert upstream.received() == []


def _bad_key(which: str, alice, carol) -> str:
    if which == "unknown":
        return "sk-" + "Z" * 48
    if which == "malformed":
        return "not-an-sk-key"
    if which == "revoked":
        return carol.key
    expires_at = timezone.now() - timedelta(hours=1)
    return api_key_create(account_id=alice.account.pk, name="old", expires_at=expires_at).secret


@pytest.mark.parametrize("which", ["unknown", "malformed", "revoked", "expired"])
def test_bad_key_via_sdk_is_401(gateway, routed, upstream, alice, carol, which):
    key = _bad_key(which, alice, carol)
    with pytest.raises(openai.AuthenticationError) as caught:
        gateway.client(key).responses.create(**VALID)
    check_sdk_error(caught.value, status=401, code="invalid_auth_header", type="authentication_error")
    assert key not in caught.value.message
    assert upstream.received() == []


def test_revoked_key_fails_on_the_next_request(gateway, routed, upstream, alice):
    client = gateway.client(alice.key)
    assert client.responses.create(**VALID).status == "completed"
    api_key_revoke(key=ApiKey.objects.get(account=alice.account))
    with pytest.raises(openai.AuthenticationError) as caught:
        client.responses.create(**VALID)
    assert caught.value.code == "invalid_auth_header"
    assert len(upstream.received()) == 1


# -- 402 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_insufficient_balance_is_402_and_never_calls_upstream(gateway, routed, upstream, bob, stream):
    client = gateway.client(bob.key)
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(**VALID, stream=stream)
    exc = caught.value
    assert type(exc) is openai.APIStatusError  # 402 has no SDK subclass
    check_sdk_error(exc, status=402, code="insufficient_balance", type="insufficient_quota")
    assert upstream.received() == []
    assert not Hold.objects.exists()
    assert not UsageRecord.objects.filter(account=bob.account).exists()
    wallet = Wallet.objects.get(account=bob.account)
    assert (wallet.balance_micros, wallet.held_micros) == (0, 0)


# -- 403 / 404 / 503 -------------------------------------------------------------------------------


def test_model_not_allowed_is_403(gateway, routed, upstream):
    _, key = make_customer("dave@example.com", balance="10", models=["other"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        gateway.client(key).responses.create(**VALID)
    check_sdk_error(caught.value, status=403, code="model_not_allowed", type="permission_error", param="model")
    assert upstream.received() == []
    assert not Hold.objects.exists()


def test_unknown_model_is_404(gateway, routed, upstream, alice):
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client(alice.key).responses.create(**{**VALID, "model": "gpt-nonexistent"})
    check_sdk_error(caught.value, status=404, code="model_not_found", type="invalid_request_error", param="model")
    assert "gpt-nonexistent" in caught.value.message
    assert upstream.received() == []


@pytest.mark.parametrize("setup", ["no_channel", "channel_disabled"])
def test_model_without_route_is_503(gateway, upstream, alice, setup):
    if setup == "no_channel":
        make_model("gpt-4o")
    else:
        channel = serve_model("openai_responses", upstream)
        Channel.objects.filter(pk=channel.pk).update(enabled=False)
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(**VALID)
    check_sdk_error(
        caught.value,
        status=503,
        code="model_not_available",
        type="service_unavailable_error",
        param="model",
        retry=True,
    )
    assert upstream.received() == []
    assert not Hold.objects.exists()


# -- upstream failures ---------------------------------------------------------------------------


def _no_leak(exc, upstream) -> None:
    text = exc.message + json.dumps(exc.body) + exc.response.text
    for secret in (upstream.base_url, f"127.0.0.1:{upstream.port}", str(upstream.port), UPSTREAM_SECRET):
        assert secret not in text, f"{secret!r} leaked to the client: {text}"


@pytest.mark.parametrize("kind", ["openai_responses", "openai_chat"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_upstream_500_is_502_without_leaks(gateway, upstream, alice, kind, stream):
    serve_model(kind, upstream)
    upstream.fail_next = (
        500,
        {"error": {"message": f"crash at {upstream.base_url}/x with key {UPSTREAM_SECRET}", "type": "server_error"}},
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(**VALID, stream=stream)
    exc = caught.value
    check_sdk_error(exc, status=502, code="upstream_error", type="server_error", retry=True)
    _no_leak(exc, upstream)
    assert len(upstream.received()) == 1
    # Nothing billable happened: the hold is released and nothing is charged.
    request_id = exc.request_id
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="usage record")
    assert (record.status, record.cost_micros) == (502, 0)
    assert Hold.objects.get(request_id=request_id).status == Hold.Status.RELEASED
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).exists()
    assert Wallet.objects.get(account=alice.account).held_micros == 0


def test_upstream_429_passes_retry_after(gateway, routed, upstream, alice):
    upstream.fail_next = (429, {"error": {"message": "slow down", "type": "requests"}}, {"retry-after": "7"})
    with pytest.raises(openai.RateLimitError) as caught:
        gateway.client(alice.key).responses.create(**VALID)
    exc = caught.value
    check_sdk_error(exc, status=429, code="rate_limit_exceeded", type="rate_limit_error", retry=True)
    assert exc.response.headers["retry-after"] == "7"


def test_upstream_400_is_a_client_error_without_leaks(gateway, routed, upstream, alice):
    upstream.fail_next = (
        400,
        {
            "error": {
                "message": f"Invalid 'temperature' for {UPSTREAM_MODEL}; see {upstream.base_url}/docs",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_value",
            }
        },
    )
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client(alice.key).responses.create(**VALID)
    exc = caught.value
    check_sdk_error(exc, status=400, code="invalid_request_error", type="invalid_request_error")
    assert "Invalid 'temperature'" in exc.message  # the upstream's reason is useful to the customer
    _no_leak(exc, upstream)


def test_upstream_rejecting_credentials_is_502(gateway, routed, upstream, alice):
    upstream.expected_secret = "the-right-secret"
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(**VALID)
    check_sdk_error(caught.value, status=502, code="upstream_auth_error", type="server_error", retry=True)
    _no_leak(caught.value, upstream)


def test_unreachable_upstream_is_502(gateway, upstream, alice):
    make_model("gpt-4o")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    make_channel("dead", provider="openai_responses", base_url=dead, secret=UPSTREAM_SECRET, models={"gpt-4o": "m"})
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(**VALID)
    check_sdk_error(caught.value, status=502, code="upstream_unreachable", type="server_error", retry=True)
    assert dead not in caught.value.message and UPSTREAM_SECRET not in caught.value.message


def test_failover_to_next_channel_on_upstream_500(gateway, upstream, alice):
    """Two channels: the first to be tried fails with 500, the other answers; the client sees one success."""
    serve_model("openai_responses", upstream, name="a")
    serve_model("openai_chat", upstream, name="b")
    upstream.fail_next = (500, {"error": {"message": "boom"}})
    response = gateway.client(alice.key).responses.create(**VALID)
    assert response.output_text == "你说：总结一下接入步骤"
    received = upstream.received()
    assert len(received) == 2
    assert {r.path for r in received} == {"/v1/responses", "/v1/chat/completions"}
