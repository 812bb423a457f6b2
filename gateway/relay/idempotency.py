"""`Idempotency-Key`: a retried request with the same key and body gets the first outcome back,
never a second charge. Same key with another body → 400; while the first is in flight → 409.

Only requests that carry the header pay for this (two small writes). Outcomes that did nothing
billable and may succeed on retry (429, 5xx) are forgotten so the retry does real work.
"""

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone

from billing.db import run_db
from gateway.models import IdempotencyRecord
from gateway.relay.catalog import KeyInfo
from gateway.wire.errors import ApiError, InvalidRequest, error_response

HEADER = "idempotency-key"
KEPT_HEADERS = (
    "content-type",
    "x-request-id",
    "x-harnmodel-request-id",
    "x-harnmodel-cost",
    "x-harnmodel-balance",
    "x-harnmodel-hold",
    "x-harnmodel-receipt",
    "x-should-retry",
    "retry-after",
)
MAX_STORED_BYTES = 8 * 1024 * 1024
TTL = timedelta(hours=24)


class Conflict(ApiError):
    status = 409
    type = "invalid_request_error"
    code = "idempotency_request_in_progress"
    retryable = True  # the SDKs retry 409: by then the first request has usually finished


@dataclass(frozen=True)
class Claim:
    record_id: int | None = None  # ours to complete
    replay: IdempotencyRecord | None = None
    error: ApiError | None = None


def claim(*, api_key_id: int, key: str, body_hash: str) -> Claim:
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    api_key_id=api_key_id, key=key, body_hash=body_hash, request_id="", expires_at=now + TTL
                )
            return Claim(record_id=record.pk)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(api_key_id=api_key_id, key=key).first()
            if existing is None:
                continue
            stale_flight = (
                existing.state == IdempotencyRecord.State.IN_FLIGHT
                and existing.created_at < now - timedelta(seconds=settings.HARNMODEL_HOLD_TTL_SECONDS)
            )
            if existing.expires_at <= now or stale_flight:
                IdempotencyRecord.objects.filter(pk=existing.pk).delete()
                continue
            if existing.body_hash != body_hash:
                return Claim(
                    error=InvalidRequest(
                        "This Idempotency-Key was already used with a different request body.",
                        param="Idempotency-Key",
                        code="idempotency_key_reused",
                    )
                )
            if existing.state == IdempotencyRecord.State.IN_FLIGHT:
                return Claim(error=Conflict("A request with this Idempotency-Key is still in progress."))
            return Claim(replay=existing)
    return Claim(error=Conflict("A request with this Idempotency-Key is still in progress."))


def complete(*, record_id: int, response: HttpResponseBase, body: bytes) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        IdempotencyRecord.objects.filter(pk=record_id).delete()  # nothing billable happened: let a retry run
        return
    IdempotencyRecord.objects.filter(pk=record_id).update(
        state=IdempotencyRecord.State.DONE,
        request_id=response.get("x-request-id", ""),
        status_code=response.status_code,
        content_type=response.get("content-type", ""),
        response_headers={name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
        response_body=body,
    )


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.status_code or 200,
        content_type=record.content_type or "application/json",
    )
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response["x-idempotent-replayed"] = "true"
    return response


async def _recording(record_id: int, response: HttpResponseBase, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass a stream through, keeping a copy; store it once it ended whole."""
    kept: list[bytes] = []
    size = 0
    whole = False
    try:
        async for chunk in stream:
            if size <= MAX_STORED_BYTES:
                kept.append(chunk)
                size += len(chunk)
            yield chunk
        whole = size <= MAX_STORED_BYTES
    finally:
        if whole:
            await run_db(complete, record_id=record_id, response=response, body=b"".join(kept))
        else:
            # The client left mid-stream (the request was still processed and billed) or it was too big to keep:
            # a retry must not run it again, and cannot be replayed either.
            interrupted = error_response(
                Conflict(
                    "The request with this Idempotency-Key was processed and billed, but its stream was not delivered "
                    "whole, so it cannot be replayed.",
                    code="idempotent_request_interrupted",
                    retryable=False,
                )
            )
            await run_db(complete, record_id=record_id, response=interrupted, body=interrupted.content)


async def with_idempotency(
    request: Any,
    key_info: KeyInfo,
    handler: Callable[[Any], Awaitable[HttpResponseBase]],
    refuse: Callable[[ApiError], HttpResponseBase] = error_response,
    fingerprint: bytes | None = None,
) -> HttpResponseBase:
    """`refuse` renders this layer's own errors (a door answers in its protocol's shape); `fingerprint` is
    what "the same body" means when it is not `request.body` (a door: the client's own bytes and path)."""
    key = request.headers.get(HEADER)
    if not key:
        return await handler(request)
    if len(key) > 255:
        return refuse(InvalidRequest("Idempotency-Key is at most 255 characters.", param="Idempotency-Key"))
    body_hash = hashlib.sha256(request.body if fingerprint is None else fingerprint).hexdigest()
    outcome = await run_db(claim, api_key_id=key_info.id, key=key, body_hash=body_hash)
    if outcome.error is not None:
        return refuse(outcome.error)
    if outcome.replay is not None:
        return _replay(outcome.replay)
    assert outcome.record_id is not None
    try:
        response = await handler(request)
    except BaseException:
        await run_db(IdempotencyRecord.objects.filter(pk=outcome.record_id).delete)
        raise
    if response.streaming:
        response.streaming_content = _recording(outcome.record_id, response, response.streaming_content)
        return response
    await run_db(complete, record_id=outcome.record_id, response=response, body=response.content)
    return response
