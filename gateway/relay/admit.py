"""POST /v1/responses: authenticate → validate → authorize → rate limits → hold, then the relay.

Everything before the hold is cheap and touches no upstream; every error here is a clean
OpenAI-shaped answer and, apart from the hold itself, no database write.
"""


from django.conf import settings
from django.http import HttpRequest

from billing import aiofast
from billing import selectors as billing_selectors
from billing import services as billing
from billing.pricing import tool_hold_micros
from gateway.crypto import hash_api_key
from gateway.db import run_db
from gateway.relay import catalog, field_policy, group_routes, offload, ratelimit
from gateway.relay.job import Admission
from gateway.wire import ids
from gateway.wire.errors import (
    InsufficientBalance,
    InvalidAuth,
    InvalidRequest,
    KeySpendLimitReached,
    ModelNotAllowed,
    ModelNotAvailable,
    ModelNotFound,
)
from gateway.wire.limits import clip
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens, uncounted_input_tokens


def new_request_id() -> str:
    return "req_" + ids.token_hex(16)


async def authenticate(header: str | None) -> catalog.KeyInfo:
    if not header:
        raise InvalidAuth("Missing Authorization header. Send 'Authorization: Bearer sk-...'.")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith("sk-") or len(secret) > 200:
        raise InvalidAuth("Malformed Authorization header. Send 'Authorization: Bearer sk-...'.")
    info = await catalog.key_info(hash_api_key(secret))
    if info is None:
        raise InvalidAuth("Incorrect API key provided.")
    if not info.usable(catalog.now()):
        raise InvalidAuth("This API key is revoked, expired or belongs to a disabled account.")
    return info


async def _can_pay(key: catalog.KeyInfo) -> None:
    """Refuse a key whose wallet has nothing available before the CPU-heavy steps (one indexed read)."""
    if await run_db(billing_selectors.available_micros, account_id=key.account_id) <= 0:
        raise InsufficientBalance("Your balance is too low for this request. Top up to continue.")


async def admit(request: HttpRequest, key: catalog.KeyInfo, request_id: str, started: float) -> Admission:
    """Validate → authorize → spend caps → rate limits → hold, for a key already authenticated."""
    if len(request.body) > settings.HARNMODEL_MAX_BODY_BYTES:
        raise InvalidRequest("The request body is too large.", status=413, code="request_too_large")
    if offload.heavy(len(request.body)):  # a big body costs real CPU: first make sure the key can pay at all
        await _can_pay(key)
    parsed = await offload.run(len(request.body), parse_request, request.body)
    model_id = parsed.typed.model
    route = await catalog.model_route(model_id)
    if route is None:
        raise ModelNotFound(f"The model '{clip(model_id)}' does not exist.", param="model")
    if key.allowed_models and model_id not in key.allowed_models:
        raise ModelNotAllowed(f"This API key may not use the model '{clip(model_id)}'.", param="model")
    route = await group_routes.priced_route(route, key)  # the account's group price; 403 outside its models
    if route.price is None or not route.channels:
        raise ModelNotAvailable(
            f"The model '{clip(model_id)}' has no available route right now.", param="model"
        )
    needs = field_policy.requirements(parsed.raw)
    field_policy.admit(needs, route.channels, route.price, model_id)  # gated fields, hosted tools, URLs: 400 here
    if any(cap is not None for cap in key.spend_caps):  # costs a query only for keys that have caps
        exhausted = await run_db(billing_selectors.key_spend_over_cap, api_key_id=key.id, caps=key.spend_caps)
        if exhausted:
            raise KeySpendLimitReached(f"This API key has reached its {exhausted} spend limit.")
    input_tokens = await offload.run(len(request.body), count_request_tokens, parsed.typed)
    wanted_output = parsed.typed.max_output_tokens or route.default_max_output_tokens
    limits = await ratelimit.acquire(key, request_id, input_tokens, wanted_output)  # 429 before any hold
    hold = {
        "account_id": key.account_id,
        "request_id": request_id,
        # Input we cannot count (stored context, files, images) is held at its worst case.
        "input_tokens": input_tokens + uncounted_input_tokens(parsed.typed, parsed.raw),
        "max_output_tokens": wanted_output,
        "price": route.price,
        "ttl_seconds": settings.HARNMODEL_HOLD_TTL_SECONDS,
        "tool_micros": tool_hold_micros(field_policy.tool_kinds(needs), needs.max_tool_calls, route.price),
    }
    try:
        # The common case on the event loop; anything unusual (a short wallet, SQLite) in a thread.
        reservation = await aiofast.hold_reserve(**hold) if aiofast.enabled() else None
        if reservation is None:
            reservation = await run_db(billing.hold_reserve, **hold)
    except billing.InsufficientBalance:
        await ratelimit.finish(limits, 0)
        raise InsufficientBalance("Your balance is too low for this request. Top up to continue.") from None
    except Exception:
        await ratelimit.finish(limits, 0)
        raise
    if any(cap is not None for cap in key.spend_caps):  # again with the hold: concurrent requests see each other
        await _spend_cap_recheck(key, request_id, model_id, route.price, limits)
    return Admission(
        request_id=request_id,
        key=key,
        parsed=parsed,
        route=route,
        reservation=reservation,
        input_tokens=input_tokens,
        started=started,
        limits=limits,
        needs=needs,
    )


async def _spend_cap_recheck(key: catalog.KeyInfo, request_id: str, model_id: str, price, limits) -> None:
    """Tag the new hold with its key and check the caps with the key's other holds: if requests admitted
    together push the key over a cap, this one gives its hold back (a 402 usage record, cost 0)."""
    exhausted = await run_db(
        billing_selectors.key_spend_over_cap, api_key_id=key.id, caps=key.spend_caps, hold_request_id=request_id
    )
    if not exhausted:
        return
    facts = billing.RequestFacts(
        account_id=key.account_id,
        model_id=model_id,
        api_key_id=key.id,
        status=402,
        error_code=KeySpendLimitReached.code,
    )
    try:
        await run_db(billing.hold_settle, request_id=request_id, usage=None, price=price, facts=facts)
    finally:
        await ratelimit.finish(limits, 0)
    raise KeySpendLimitReached(f"This API key has reached its {exhausted} spend limit.")
