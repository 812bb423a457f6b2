"""One log line per request on the logger `harnmodel.request`: who, which model and channel, how it went,
what it used and cost. With LOG_FORMAT=json every field below is a key of that line.

Never the prompt, the answer, the API key (only its display prefix) or an upstream credential. Logging
never raises into the request.
"""

import logging
from collections.abc import Mapping
from typing import Any

from gateway.observe import livelog
from gateway.pool.naming import served_credential

log = logging.getLogger("harnmodel.request")


def request_fields(
    facts: Any,
    *,
    request_id: str,
    key_prefix: str,
    usage: Any,
    cost_micros: int,
    estimated: bool = False,
    attempts: list[Mapping] | None = None,
) -> dict[str, Any]:
    """The line's fields; `facts` is billing.RequestFacts, `usage` a billing Usage or None."""
    tried = attempts if attempts is not None else facts.attempts or []
    return {
        "request_id": request_id,
        "account_id": facts.account_id,
        "api_key_id": facts.api_key_id,
        "key_prefix": key_prefix,
        "model": facts.model_id,
        "upstream_model": facts.upstream_model,
        "channel_id": facts.channel_id,
        "credential": served_credential(facts, tried) or None,
        "status": facts.status,
        "error_code": facts.error_code or None,
        "stream": facts.stream,
        "input_tokens": usage.input_tokens if usage is not None else 0,
        "cached_input_tokens": usage.cached_input_tokens if usage is not None else 0,
        "output_tokens": usage.output_tokens if usage is not None else 0,
        "reasoning_tokens": usage.reasoning_tokens if usage is not None else 0,
        "usage_estimated": estimated,
        "cost_micros": cost_micros,
        "latency_ms": facts.latency_ms,
        "first_byte_ms": facts.first_byte_ms,
        "attempts": [
            {key: attempt.get(key) for key in ("channel", "credential", "status", "ms", "error") if key in attempt}
            for attempt in tried
        ],
    }


def log_request(
    facts: Any,
    *,
    request_id: str,
    key_prefix: str,
    usage: Any,
    cost_micros: int,
    estimated: bool = False,
    attempts: list[Mapping] | None = None,
) -> None:
    """One admitted request, at its settlement: INFO, or WARNING when the client got a 5xx. Also offered to the
    console's live log (a non-blocking put, whatever the log level)."""
    livelog.publish(
        facts, request_id=request_id, key_prefix=key_prefix, usage=usage, cost_micros=cost_micros, estimated=estimated
    )
    try:
        level = logging.WARNING if facts.status >= 500 else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields = request_fields(
            facts,
            request_id=request_id,
            key_prefix=key_prefix,
            usage=usage,
            cost_micros=cost_micros,
            estimated=estimated,
            attempts=attempts,
        )
        log.log(
            level,
            "%s %s %s channel=%s%s tokens=%s/%s cost_micros=%s latency_ms=%s first_byte_ms=%s attempts=%s%s",
            request_id,
            facts.status,
            facts.model_id,
            facts.channel_id,
            f" credential={fields['credential']}" if fields["credential"] else "",
            fields["input_tokens"],
            fields["output_tokens"],
            cost_micros,
            facts.latency_ms,
            facts.first_byte_ms,
            len(fields["attempts"]),
            f" error={facts.error_code}" if facts.error_code else "",
            extra=fields,
        )
    except Exception:
        log.exception("request log failed")


def log_rejection(*, request_id: str, status: int, code: str | None, latency_ms: int | None = None) -> None:
    """A request refused before admission (no key known yet, or no hold): the same logger, fewer fields."""
    try:
        if not log.isEnabledFor(logging.INFO):
            return
        fields = {"request_id": request_id, "status": status, "error_code": code, "latency_ms": latency_ms}
        log.info("%s %s rejected error=%s", request_id, status, code, extra=fields)
    except Exception:
        log.exception("request log failed")
