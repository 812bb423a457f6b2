"""The Responses API's side endpoints a coding agent may call: `POST /v1/responses/input_tokens` counts and
never charges; `POST /v1/responses/compact` (which Codex does not call on a custom provider) and
`GET /v1/responses/{id}` (nothing is stored here) answer a clear JSON 404."""

import json

import pytest

from billing.models import Hold, LedgerEntry, UsageRecord
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens

from .conftest import serve_model

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {
    "model": "gpt-4o",
    "instructions": "You are Codex.",
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "数一数这句话的词元"}]},
              {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "*** Begin Patch"}],
    "tools": [{"type": "custom", "name": "apply_patch"}],
    "client_metadata": {"x-codex-turn-metadata": "{}"},
}


def test_input_tokens_counts_what_the_hold_counts_and_charges_nothing(gateway, upstream, alice):
    serve_model("simulator", upstream)
    ledger = LedgerEntry.objects.count()

    body = {k: v for k, v in BODY.items() if k != "client_metadata"}  # the SDK has no such argument
    counted = gateway.client(alice.key).responses.input_tokens.count(**body, extra_body={
        "client_metadata": BODY["client_metadata"]})  # the SDK's own call and type

    expected = count_request_tokens(parse_request(json.dumps(BODY).encode()).typed)
    assert counted.object == "response.input_tokens" and counted.input_tokens == expected > 0
    assert LedgerEntry.objects.count() == ledger
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


def test_input_tokens_refuses_like_responses(gateway, upstream, http, alice):
    serve_model("simulator", upstream)
    url = "/v1/responses/input_tokens"
    auth = {"authorization": f"Bearer {alice.key}"}

    assert http.post(url, json=BODY).status_code == 401
    unknown = http.post(url, json={**BODY, "model": "nope"}, headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "model"
    bad = http.post(url, json={**BODY, "temperature": 9}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "temperature"
    assert http.get(url, headers=auth).status_code == 405


def test_compact_and_retrieval_are_clear_json_404s(gateway, http, alice):
    auth = {"authorization": f"Bearer {alice.key}"}

    compact = http.post("/v1/responses/compact", json=BODY, headers=auth)
    assert compact.status_code == 404 and compact.json()["error"]["code"] == "unsupported_endpoint"
    assert "/v1/responses request" in compact.json()["error"]["message"]

    retrieve = http.get("/v1/responses/resp_0123", headers=auth)
    assert retrieve.status_code == 404 and retrieve.json()["error"]["code"] == "not_found"
    assert "not stored" in retrieve.json()["error"]["message"]
