"""POST /v1/responses: authenticate → validate → authorize → rate limits → hold, then the relay.

Everything before the hold is cheap and touches no upstream; every error here is a clean
OpenAI-shaped answer and, apart from the hold itself, no database write.
"""


from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from billing import holds
from billing import selectors as billing_selectors
from billing import services as billing
from billing.db import run_db
from billing.pricing import tool_hold_micros
from gateway.crypto import hash_api_key
from gateway.relay import budgets, catalog, ceilings, field_policy, group_routes, offload, ratelimit
from gateway.relay.job import Admission
from gateway.wire import ids
from gateway.wire.errors import (
    ApiError,
    InsufficientBalance,
    InvalidAuth,
    InvalidRequest,
    KeySpendLimitReached,
    ModelNotAllowed,
    ModelNotAvailable,
    ModelNotFound,
)
from gateway.wire.limits import clip
from gateway.wire.schema import ParsedRequest, parse_request
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


@dataclass(frozen=True, slots=True)
class Plan:
    """What admission knows before it takes anything (rate-limit slot, session share, hold)."""

    parsed: ParsedRequest
    route: catalog.ModelRoute
    needs: field_policy.Needs
    input_tokens: int  # counted locally
    held_input: int  # plus input we cannot count (stored context, files, images) at its worst case
    wanted_output: int
    tool_micros: int
    cost: ceilings.CostPlan


async def plan(body: bytes, headers: Any, key: catalog.KeyInfo) -> Plan:
    """Validate → authorize → key spend caps → count → ceilings: every refusal a request can get before its
    rate limits and hold. One place for admission and for quotes (gateway/relay/quote.py)."""
    if len(body) > settings.HARNMODEL_MAX_BODY_BYTES:
        raise InvalidRequest("The request body is too large.", status=413, code="request_too_large")
    if offload.heavy(len(body)):  # a big body costs real CPU: first make sure the key can pay at all
        await _can_pay(key)
    parsed = await offload.run(len(body), parse_request, body)
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
            raise budgets.key_cap_reached(key, exhausted)
    if key.budgets:  # the key's project and member budgets, likewise only when there are some
        await budgets.admit(key)
    input_tokens = await offload.run(len(body), count_request_tokens, parsed.typed)
    wanted_output = parsed.typed.max_output_tokens or route.default_max_output_tokens
    held_input = input_tokens + uncounted_input_tokens(parsed.typed, parsed.raw)
    tool_micros = tool_hold_micros(field_policy.tool_kinds(needs), needs.max_tool_calls, route.price)
    cost = ceilings.plan(headers, key, parsed.typed, route.price, input_tokens=held_input,
                         wanted_output=wanted_output, tool_micros=tool_micros)  # X-Max-Cost: 400/402 here
    return Plan(parsed, route, needs, input_tokens, held_input, wanted_output, tool_micros, cost)


async def admit(request: HttpRequest, key: catalog.KeyInfo, request_id: str, started: float) -> Admission:
    """plan → rate limits → session share → hold, for a key already authenticated."""
    ratelimit.refuse_known(key)  # still inside an RPM refusal this worker saw: 429 before any parsing
    planned = await plan(request.body, request.headers, key)
    parsed, route, needs, cost = planned.parsed, planned.route, planned.needs, planned.cost
    model_id, input_tokens, held_input = parsed.typed.model, planned.input_tokens, planned.held_input
    tool_micros = planned.tool_micros
    limits = await ratelimit.acquire(key, request_id, input_tokens, cost.output_cap)  # 429 before any hold
    hold = {
        "account_id": key.account_id,
        "request_id": request_id,
        "input_tokens": held_input,
        "max_output_tokens": cost.output_cap,
        "price": route.price,
        "ttl_seconds": settings.HARNMODEL_HOLD_TTL_SECONDS,
        "tool_micros": tool_micros,
        "api_key_id": key.id,  # written with the hold: the key's spend caps count it from the start
        # caps and budgets read the key's open holds: only a key without them may ride on a wallet lease
        "leasable": not key.budgets and all(cap is None for cap in key.spend_caps),
    }
    try:
        await cost.take_share()  # a session budget's share: 402 when spent, else a ceiling of its own
        hold["max_output_tokens"] = cost.output_cap
        reservation = await holds.reserve(**hold)
    except holds.InsufficientBalance:
        await ratelimit.finish(limits, 0)
        await cost.abandon()
        raise InsufficientBalance("Your balance is too low for this request. Top up to continue.") from None
    except Exception:
        await ratelimit.finish(limits, 0)
        await cost.abandon()
        raise
    if any(cap is not None for cap in key.spend_caps):  # again with the hold: concurrent requests see each other
        await _spend_cap_recheck(key, request_id, model_id, route.price, limits, cost)
    if key.budgets:
        try:
            await budgets.recheck(key, request_id, model_id, route.price, limits)
        except ApiError:
            await cost.abandon()  # the hold went back: so does the session's share
            raise
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
        cost=cost,
    )


async def _spend_cap_recheck(key: catalog.KeyInfo, request_id: str, model_id: str, price, limits,
                             cost: ceilings.CostPlan) -> None:
    """Check the caps with the key's other holds: if requests admitted together push the key over a cap,
    this one gives its hold back (a 402 usage record, cost 0)."""
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
        await holds.settle(request_id=request_id, usage=None, price=price, facts=facts)
    finally:
        await ratelimit.finish(limits, 0)
        await cost.abandon()
    raise budgets.key_cap_reached(key, exhausted)
