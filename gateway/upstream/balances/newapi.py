"""new-api / one-api relays: OpenAI's legacy billing endpoints, which these relays still serve for a token.
  GET {root}/v1/dashboard/billing/subscription → {"hard_limit_usd"}   (the token's total quota, USD)
  GET {root}/v1/dashboard/billing/usage        → {"total_usage"}      (used, in US cents)
Balance = hard_limit_usd − total_usage / 100."""

import httpx

from gateway.upstream.balances import BalanceError, Reading, get_json, root, to_micros


def fetch(client: httpx.Client, base_url: str, secret: str) -> Reading:
    base = root(base_url) + "/v1/dashboard/billing"
    limit = get_json(client, base + "/subscription", secret).get("hard_limit_usd")
    used_cents = get_json(client, base + "/usage", secret).get("total_usage")
    if limit is None or used_cents is None:
        raise BalanceError("hard_limit_usd or total_usage missing")
    return Reading(to_micros(limit) - to_micros(used_cents) // 100, "USD")
