"""The OpenAPI document and the docs page: generated from the code, served locally (no CDN), under our CSP."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_lists_every_route_and_the_error_shape():
    schema = Client().get("/api/v1/schema/?format=json").json()
    assert schema["openapi"].startswith("3.") and "Error" in schema["components"]["schemas"]
    for path in ("/api/v1/keys/", "/api/v1/usage/export/", "/api/v1/ops/adjustments/", "/api/v1/topups/{id}/"):
        assert path in schema["paths"]
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert {"400", "401", "403", "404", "429"} <= set(operation["responses"])


def test_docs_page_uses_only_local_assets_and_the_csp_nonce(settings):
    settings.HARNMODEL_SERVE_STATIC = True
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from another host
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in page and "<script>" not in page  # no inline script: CSP-clean
    script = Client().get(next(s for s in sources if "script" in s))
    assert script.status_code == 200 and "/api/v1/schema/" in script.content.decode()


def test_portal_docs_page_lists_every_customer_endpoint():
    schema = Client().get("/api/v1/schema/?format=json").json()
    page = Client().get("/docs/").content.decode()
    assert "/api/v1/docs/" in page
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/ops/"):
            assert f"<code>{path}</code>" in page, path
            methods = ", ".join(m.upper() for m in ("get", "post", "patch", "delete") if m in operations)
            assert f"<td>{methods}</td><td><code>{path}</code>" in page, (path, methods)
