"""GET /v1/models (what this key can call right now), /healthz and /readyz for the load balancer."""

import pytest
from django.test import AsyncClient

from billing.db import run_db
from gateway import meta_views
from gateway.models import ApiKey, CatalogModel, Channel
from tests.factories import make_channel, make_model

pytestmark = pytest.mark.django_db(transaction=True)


def catalog():
    for public_id in ("gpt-4o", "gpt-mini", "off-model", "orphan", "dark"):
        make_model(public_id)
    make_channel("one", models={"gpt-4o": "", "gpt-mini": "", "off-model": ""})
    make_channel("off", models={"dark": ""})
    Channel.objects.filter(name="off").update(enabled=False)  # dark: its only channel is off
    CatalogModel.objects.filter(public_id="off-model").update(enabled=False)  # a model switched off
    # orphan: no channel at all


async def get(path: str, key: str | None = None):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return await AsyncClient().get(path, headers=headers)


async def test_models_lists_what_the_key_can_call(customer):
    await run_db(catalog)
    response = await get("/v1/models", customer.key)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-4o", "gpt-mini"]
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and model["owned_by"] == "harnmodel"
        assert isinstance(model["created"], int) and model["created"] > 1_600_000_000


async def test_models_respects_the_keys_allowed_models(customer):
    await run_db(catalog)
    await run_db(ApiKey.objects.filter(account=customer.account).update, allowed_models=["gpt-mini", "dark"])
    body = (await get("/v1/models", customer.key)).json()
    assert [m["id"] for m in body["data"]] == ["gpt-mini"]
    assert (await get("/v1/models/gpt-mini", customer.key)).json()["id"] == "gpt-mini"
    hidden = await get("/v1/models/gpt-4o", customer.key)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("key", [None, "sk-not-a-real-key", "Basic abc"])
async def test_models_needs_a_valid_key(customer, key):
    headers = {}
    if key:
        headers["authorization"] = key if key.startswith("Basic") else f"Bearer {key}"
    response = await AsyncClient().get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_healthz_is_alive():
    response = await get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_checks_the_database_and_redis(settings):
    response = await get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    assert ("redis" in body["checks"]) == bool(settings.REDIS_URL)


async def test_readyz_names_an_unreachable_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = await get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis"] and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_readyz_names_a_broken_database(monkeypatch, settings):
    settings.REDIS_URL = ""

    def broken():
        raise OSError("connection refused")

    monkeypatch.setattr(meta_views, "_database_ok", broken)
    response = await get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable", "checks": {"database": "error: OSError"}, "failed": ["database"],
    }


async def test_a_nul_in_a_model_id_is_simply_not_found(customer):
    """PostgreSQL refuses NUL in a query: it must be a 404, not a 500."""
    await run_db(catalog)
    assert (await get("/v1/models/gpt%004o", customer.key)).status_code == 404
    response = await AsyncClient().post(
        "/v1/responses", data='{"model": "gpt\\u00004o", "input": "hi"}', content_type="application/json",
        headers={"authorization": f"Bearer {customer.key}"},
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
