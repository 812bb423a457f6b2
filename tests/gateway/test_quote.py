"""POST /v1/quote: a quote and the real request, side by side, take the same hold and tell the upstream the same
cap (plain, under `X-Max-Cost`, against a short wallet); a quote calls no upstream and writes nothing; it
refuses what the real request refuses, with the same answer.

Real HTTP upstream (tests/upstream/faulty.py), the gateway in process, as tests/routing does.
"""

import json

import jsonschema_rs
import pytest
from django.test import AsyncClient

from billing.db import run_db
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.money import parse_amount
from gateway.models import ApiKey
from gateway.protocols.responses.openapi_quote import QUOTE_SCHEMA
from gateway.relay.catalog import clear_caches
from tests.billing.matrix_helpers import local_input_tokens
from tests.factories import make_customer, make_model
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, TEXT, make_channels, settled
from tests.routing.test_disconnect import LONG

pytestmark = pytest.mark.django_db(transaction=True)
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty


async def call(path: str, key: str, body: dict, headers: dict | None = None):
    response = await AsyncClient().post(path, data=json.dumps(body), content_type="application/json",
                                        headers={"authorization": f"Bearer {key}", **(headers or {})})
    if response.streaming:
        b"".join([chunk async for chunk in response.streaming_content])
        return response, None
    return response, json.loads(response.content)


def written(account) -> tuple[int, int, int]:
    return (Hold.objects.filter(wallet__account=account).count(),
            LedgerEntry.objects.filter(wallet__account=account, kind="charge").count(),
            UsageRecord.objects.filter(account=account).count())


@pytest.mark.parametrize(("body", "headers"), [
    ({"input": TEXT, "max_output_tokens": 500}, {}),
    ({"input": LONG}, {}),  # the model's default output cap
    ({"input": LONG, "max_output_tokens": 500}, {"X-Max-Cost": "0.001"}),
    ({"input": TEXT, "max_output_tokens": 500, "tools": [{"type": "function", "name": "f", "parameters": {}}]},
     {"X-Max-Cost": "0.0002"}),
], ids=["plain", "default-cap", "max-cost", "tools-max-cost"])
async def test_a_quote_takes_the_hold_the_request_takes(faulty, customer, body, headers):
    await run_db(make_channels, faulty, "a")
    body = {"model": MODEL, **body}
    quoted, quote = await call("/v1/quote", customer.key, body, headers)
    assert quoted.status_code == 200, quote
    assert faulty.hits("a") == [] and await run_db(written, customer.account) == (0, 0, 0)
    real, _ = await call("/v1/responses", customer.key, {**body, "stream": True}, headers)
    assert real.status_code == 200
    assert parse_amount(quote["hold"]) == parse_amount(real["x-harnmodel-hold"])  # side by side
    hold = await run_db(Hold.objects.get, request_id=real["x-request-id"])
    assert hold.amount_micros == parse_amount(quote["hold"]) == parse_amount(quote["worst_case_cost"])
    assert faulty.hits("a")[0].body["max_output_tokens"] == quote["output_cap"]
    assert quote["input_tokens"] == local_input_tokens(body)
    assert quote["object"] == "quote" and quote["model"] == MODEL and quote["currency"]
    jsonschema_rs.validator_for(QUOTE_SCHEMA).validate(quote)  # the answer is what the OpenAPI document says
    if headers:
        assert quote["cost_ceiling"] == headers["X-Max-Cost"] and quote["output_cap"] < 500
        assert parse_amount(quote["hold"]) <= parse_amount(headers["X-Max-Cost"])
    else:
        assert quote["cost_ceiling"] is None


async def test_a_short_wallet_lowers_the_quoted_hold_as_it_lowers_the_real_one(faulty):
    await run_db(make_channels, faulty, "a")
    account, key = await run_db(make_customer, "short@example.com", balance="0.001")
    body = {"model": MODEL, "input": LONG, "max_output_tokens": 4000}
    _, quote = await call("/v1/quote", key, body)
    assert quote["output_cap"] < 4000 and parse_amount(quote["hold"]) <= 1000
    assert parse_amount(quote["worst_case_cost"]) > parse_amount(quote["hold"])  # what the wallet could not cover
    real, _ = await call("/v1/responses", key, {**body, "stream": True})
    assert parse_amount(real["x-harnmodel-hold"]) == parse_amount(quote["hold"])
    assert faulty.hits("a")[0].body["max_output_tokens"] == quote["output_cap"]
    await settled()


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    ({"model": MODEL}, {}, 400, None),  # no input
    ({"model": MODEL, "input": TEXT, "max_output_tokens": -1}, {}, 400, None),
    ({"model": "nope", "input": TEXT}, {}, 404, "model_not_found"),
    ({"model": MODEL, "input": LONG}, {"X-Max-Cost": "0.000001"}, 402, "cost_ceiling_exceeded"),
    ({"model": MODEL, "input": TEXT}, {"X-Max-Cost": "lots"}, 400, "invalid_max_cost"),
], ids=["no-input", "bad-cap", "unknown-model", "over-ceiling", "bad-ceiling"])
async def test_a_quote_refuses_what_the_request_refuses(faulty, customer, body, headers, status, code):
    await run_db(make_channels, faulty, "a")
    quoted, quote = await call("/v1/quote", customer.key, body, headers)
    real, answer = await call("/v1/responses", customer.key, body, headers)
    assert quoted.status_code == real.status_code == status
    assert quote == answer  # the same error object, word for word
    assert code is None or quote["error"]["code"] == code
    assert faulty.hits("a") == []


async def test_a_quote_needs_a_key_and_a_funded_wallet(faulty, customer):
    await run_db(make_channels, faulty, "a")
    body = {"model": MODEL, "input": TEXT}
    response, answer = await call("/v1/quote", "sk-nope", body)
    assert response.status_code == 401 and answer["error"]["code"] == "invalid_auth_header"
    _, empty = await run_db(make_customer, "empty@example.com", balance="0")
    response, answer = await call("/v1/quote", empty, body)
    assert response.status_code == 402 and answer["error"]["code"] == "insufficient_balance"


async def test_quote_urls(faulty, customer):
    response = await AsyncClient().get("/v1/quote", headers={"authorization": f"Bearer {customer.key}"})
    assert response.status_code == 405 and response["allow"] == "POST"
    response, answer = await call("/v1/quote/v1/nothing", customer.key, {})
    assert response.status_code == 404 and answer["error"]["code"] == "unknown_url"


async def test_a_quote_refuses_a_model_the_key_may_not_use_or_nothing_serves(faulty, customer):
    await run_db(make_channels, faulty, "a")
    await run_db(make_model, "idle-model")  # in the catalog, served by no channel
    quoted, quote = await call("/v1/quote", customer.key, {"model": "idle-model", "input": TEXT})
    real, answer = await call("/v1/responses", customer.key, {"model": "idle-model", "input": TEXT})
    assert quoted.status_code == real.status_code == 503 and quote == answer

    def restrict():
        ApiKey.objects.filter(account=customer.account).update(allowed_models=["other-model"])
        clear_caches()

    await run_db(restrict)
    quoted, quote = await call("/v1/quote", customer.key, {"model": MODEL, "input": TEXT})
    real, answer = await call("/v1/responses", customer.key, {"model": MODEL, "input": TEXT})
    assert quoted.status_code == real.status_code == 403 and quote == answer
    assert faulty.hits("a") == []
