"""Upstream balances: a small pluggable set of balance readers, one module per kind, each a
`fetch(client, base_url, secret) -> Reading` against the channel's own configured base URL.

A channel opts in with Channel.options["balance_kind"] (one of KINDS) and may set
options["balance_alert_below"] (a decimal amount in the upstream's currency). See gateway.upstream.balance_poll
for the polling, the alert and the drain.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from importlib import import_module
from typing import Protocol

import httpx

from gateway.upstream import http as upstream_http

KINDS: dict[str, str] = {
    "openrouter": "gateway.upstream.balances.openrouter",
    "deepseek": "gateway.upstream.balances.deepseek",
    "newapi": "gateway.upstream.balances.newapi",  # new-api / one-api relays (OpenAI's legacy billing API)
}


class BalanceError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Reading:
    balance_micros: int
    currency: str


class Reader(Protocol):
    def __call__(self, client: httpx.Client, base_url: str, secret: str) -> Reading: ...


def reader(kind: str) -> Reader:
    if kind not in KINDS:
        raise BalanceError(f"unknown balance kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return import_module(KINDS[kind]).fetch


def to_micros(value: object) -> int:
    """An upstream's amount (JSON number or decimal string) → integer micros, rounded half-even."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BalanceError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise BalanceError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise BalanceError(f"not an amount: {value!r}")
    return int((amount * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def get_json(client: httpx.Client, url: str, secret: str) -> dict:
    try:
        return upstream_http.get_json(client, url, {"authorization": f"Bearer {secret}"})
    except upstream_http.FetchError as exc:
        raise BalanceError(f"balance: {exc}") from exc


def root(base_url: str) -> str:
    """The base URL without a trailing /v1 (balance endpoints live beside the API, not under it)."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1")
