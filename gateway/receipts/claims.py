"""What a receipt states: one request's charge, as settled. Money in integer micros of HARNMODEL_CURRENCY."""

import time
from typing import Any

from django.conf import settings

from billing.pricing import Usage

ISSUER = "harnmodel"


def charge_key(request_id: str) -> str:
    """The charge's ledger entry (LedgerEntry.idempotency_key): unique, so it names one row."""
    return f"charge:{request_id}"


def claims(
    *,
    request_id: str,
    account_id: int,
    key_prefix: str,
    door: str,
    model: str,
    price_id: int | None,
    usage: Usage,
    estimated: bool,
    cost_micros: int,
    balance_micros: int,
    issued_at: int | None = None,
) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "request_id": request_id,
        "account": account_id,
        "key_prefix": key_prefix,
        "door": door,
        "model": model,
        "price_version": price_id,
        "tokens": {
            "input": usage.input_tokens,
            "cached": usage.cached_input_tokens,
            # Cache writes are not told apart from input yet (billing.pricing.Usage counts them as input).
            "cache_write": usage.cache_write_tokens,
            "output": usage.output_tokens,
            "reasoning": usage.reasoning_tokens,
        },
        "tool_calls": dict(usage.tool_calls),
        "estimated": estimated,
        "currency": settings.HARNMODEL_CURRENCY,
        "cost_micros": cost_micros,
        "balance_after_micros": balance_micros,
        # No ledger row for a free answer: nothing was charged.
        "ledger_entry": charge_key(request_id) if cost_micros else None,
        "iat": issued_at if issued_at is not None else int(time.time()),
    }
