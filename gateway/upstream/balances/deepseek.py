"""DeepSeek: GET {root}/user/balance → {"is_available", "balance_infos": [{"currency", "total_balance"}]}.
total_balance is a decimal string; USD is preferred when several currencies are listed."""

import httpx

from gateway.upstream.balances import BalanceError, Reading, get_json, root, to_micros


def fetch(client: httpx.Client, base_url: str, secret: str) -> Reading:
    infos = get_json(client, root(base_url) + "/user/balance", secret).get("balance_infos")
    if not isinstance(infos, list) or not infos or not all(isinstance(i, dict) for i in infos):
        raise BalanceError("no balance_infos in the balance answer")
    info = next((i for i in infos if i.get("currency") == "USD"), infos[0])
    return Reading(to_micros(info.get("total_balance")), str(info.get("currency") or "")[:8])
