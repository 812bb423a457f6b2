"""CORS on /v1/*, through the real ASGI application (the lean front and Django behind it)."""

import httpx
import pytest

from harnmodel.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://gw")


async def test_preflight_is_answered_without_a_key():
    async with client() as http:
        response = await http.options(
            "/v1/responses",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type, x-stainless-os",
            },
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    assert "access-control-allow-credentials" not in response.headers


async def test_errors_and_answers_carry_cors_headers(catalog, alice):
    async with client() as http:
        denied = await http.post(
            "/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers={"origin": "https://app.example"}
        )
        answered = await http.post(
            "/v1/responses",
            json={"model": "gpt-4o", "input": "hi"},
            headers={"origin": "https://app.example", "authorization": f"Bearer {alice.key}"},
        )
    from tests.conftest import relay_settled

    await relay_settled()
    for response in (denied, answered):
        assert response.headers["access-control-allow-origin"] == "*"
        assert "x-harnmodel-cost" in response.headers["access-control-expose-headers"]
    assert (denied.status_code, answered.status_code) == (401, 200)


async def test_only_listed_origins_when_configured(settings):
    settings.HARNMODEL_CORS_ALLOWED_ORIGINS = ["https://ok.example"]
    async with client() as http:
        good = await http.options("/v1/responses", headers={"origin": "https://ok.example"})
        bad = await http.options("/v1/responses", headers={"origin": "https://evil.example"})
    assert good.headers["access-control-allow-origin"] == "https://ok.example"
    assert good.headers["vary"] == "origin"
    assert "access-control-allow-origin" not in bad.headers


async def test_portal_pages_get_no_cors_headers():
    async with client() as http:
        response = await http.get("/admin/login/", headers={"origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers
