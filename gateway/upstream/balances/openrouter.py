"""OpenRouter: GET {base}/credits (base = …/api/v1) → {"data": {"total_credits", "total_usage"}} in USD."""

import httpx

from gateway.upstream.balances import BalanceError, Reading, get_json, to_micros


def fetch(client: httpx.Client, base_url: str, secret: str) -> Reading:
    data = get_json(client, base_url.rstrip("/") + "/credits", secret).get("data")
    if not isinstance(data, dict):
        raise BalanceError("no data in the credits answer")
    return Reading(to_micros(data.get("total_credits")) - to_micros(data.get("total_usage")), "USD")
