"""The small endpoints around the API: `GET /v1/models` for clients, `/healthz` and `/readyz` for
the load balancer."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from billing.db import run_db
from billing.group_selectors import group_terms
from gateway.models import CatalogModel
from gateway.protocols.gemini.render import models_list as gemini_models_list
from gateway.relay import shared_state
from gateway.relay.admit import authenticate
from gateway.relay.catalog import KeyInfo
from gateway.wire.errors import ApiError, InvalidRequest, ModelNotFound, error_response
from gateway.wire.limits import clip

log = logging.getLogger("harnmodel.meta")
READY_TIMEOUT = 2.0  # seconds per dependency


def servable_models(key: KeyInfo, public_id: str | None = None) -> list[dict]:
    """Enabled models with at least one enabled channel, that this key may use."""
    if public_id is not None and "\x00" in public_id:  # PostgreSQL refuses NUL in a query; no id has one
        return []
    models = CatalogModel.objects.filter(enabled=True, channel_maps__channel__enabled=True)
    if public_id is not None:
        models = models.filter(public_id=public_id)
    if key.allowed_models:
        models = models.filter(public_id__in=key.allowed_models)
    if (group := group_terms(key.group_id)).allowed_models:  # the customer group's models only
        models = models.filter(public_id__in=group.allowed_models)
    rows = models.distinct().order_by("public_id").values_list("public_id", "created_at")
    return [
        {"id": public_id, "object": "model", "created": int(created.timestamp()), "owned_by": "harnmodel"}
        for public_id, created in rows
    ]


async def _key(request: HttpRequest) -> KeyInfo:
    if request.method != "GET":
        raise InvalidRequest(
            "Use GET for this endpoint.", status=405, code="method_not_allowed", headers={"Allow": "GET"}
        )
    header = request.headers.get("authorization")
    other = request.headers.get("x-api-key") or request.headers.get("x-goog-api-key")
    if not header and other:  # Anthropic and Google clients send their key this way
        header = "Bearer " + other.strip()
    return await authenticate(header)


def anthropic_list(rows: list[dict]) -> dict:
    """Anthropic's `GET /v1/models` shape, for clients that send `anthropic-version`."""
    data = [
        {"type": "model", "id": row["id"], "display_name": row["id"],
         "created_at": datetime.fromtimestamp(row["created"], tz=UTC).isoformat().replace("+00:00", "Z")}
        for row in rows
    ]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


@csrf_exempt  # bearer keys, never cookies: a wrong method gets the JSON 405, not CSRF's HTML 403
async def models_list(request: HttpRequest) -> HttpResponse:
    try:
        key = await _key(request)
    except ApiError as error:
        return error_response(error)
    rows = await run_db(servable_models, key)
    if request.headers.get("anthropic-version"):  # the caller speaks Anthropic: answer in its list shape
        return JsonResponse(anthropic_list(rows))
    if request.headers.get("x-goog-api-key"):  # google-genai lists /v1/models with its own key header
        return JsonResponse(gemini_models_list([row["id"] for row in rows]))
    return JsonResponse({"object": "list", "data": rows})


@csrf_exempt
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    try:
        key = await _key(request)
        found = await run_db(servable_models, key, model_id)
        if not found:
            raise ModelNotFound(f"The model '{clip(model_id)}' does not exist or you do not have access to it.",
                                param="model")
    except ApiError as error:
        return error_response(error)
    return JsonResponse(found[0])


async def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check(name: str, probe) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), READY_TIMEOUT)
    except Exception as error:  # whatever failed, the answer is "not ready", and which one
        log.warning("readiness: %s failed: %s", name, type(error).__name__)
        return name, f"error: {type(error).__name__}"
    return name, "ok"


async def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database answers, and Redis too when it is configured. 503 names what failed."""
    checks = [_check("database", lambda: run_db(_database_ok))]
    if settings.REDIS_URL:
        checks.append(_check("redis", shared_state.ping))
    results = dict(await asyncio.gather(*checks))
    ready = all(value == "ok" for value in results.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": results}
    if not ready:
        body["failed"] = sorted(name for name, value in results.items() if value != "ok")
    return JsonResponse(body, status=200 if ready else 503)
