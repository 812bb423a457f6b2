"""A revoked key is refused by every host within seconds.

Every host first answers the key (so each has it in its auth cache, the case that takes longest), then the
key is revoked the way the console and `manage.py key_revoke` do it (gateway.services.api_key_revoke), and
each host is asked directly at its own address every INTERVAL until it answers 401. Reports, per host, the
seconds from the revoke's commit to its first 401; fails if a host still answers after LIMIT seconds.

usage: revoke.py --state state.json --hosts h1=http://10.77.0.11:8000,... --limit 10 --out revoke.json
"""

import argparse
import asyncio
import json
import time

import client
import djangoenv  # noqa: F401
import outcome
import request
from django.conf import settings

from gateway.models import ApiKey
from gateway.services import api_key_revoke


def hosts_arg(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(","))


async def until_refused(http, base: str, key: str, since: float, limit: float, interval: float) -> dict:
    last_ok, asked = None, 0
    while time.time() - since < limit:
        answer = await client.post(http, base, "/v1/responses", key, request.body())
        asked += 1
        if answer.status == 401:
            return {"refused_after_s": round(answer.ended - since, 3), "last_200_after_s": last_ok, "asked": asked,
                    "code": answer.code}
        if answer.status == 200:
            last_ok = round(answer.ended - since, 3)
        await asyncio.sleep(interval)
    return {"refused_after_s": None, "last_200_after_s": last_ok, "asked": asked}


def revoke(key_id: int) -> None:
    api_key_revoke(key=ApiKey.objects.get(pk=key_id))


async def run(hosts: dict[str, str], key: str, key_id: int, limit: float, interval: float) -> tuple[dict, dict]:
    async with client.session() as http:
        warm = {name: (await client.post(http, base, "/v1/responses", key, request.body())).status
                for name, base in hosts.items()}
        await asyncio.to_thread(revoke, key_id)  # committed on return
        since = time.time()
        polls = await asyncio.gather(*(until_refused(http, base, key, since, limit, interval)
                                       for base in hosts.values()))
    return warm, dict(zip(hosts, polls, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--hosts", type=hosts_arg, required=True, help="name=url,...")
    parser.add_argument("--limit", type=float, default=10.0, help="seconds a host may take")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    customer = json.load(open(args.state))["customers"]["revoke"]
    warm, per_host = asyncio.run(run(args.hosts, customer["key"], customer["key_id"], args.limit, args.interval))
    checks = {
        "every_host_served_the_key_before": all(status == 200 for status in warm.values()),
        "every_host_refused_within_limit": all(p["refused_after_s"] is not None for p in per_host.values()),
    }
    result = {"check": "revoke", "auth_cache_seconds": settings.HARNMODEL_AUTH_CACHE_SECONDS, "limit_s": args.limit,
              "poll_interval_s": args.interval, "before": warm, "hosts": per_host,
              "slowest_s": max((p["refused_after_s"] or args.limit) for p in per_host.values())}
    print("revoke: first 401 after " + ", ".join(f"{n} {p['refused_after_s']} s" for n, p in per_host.items())
          + f" (auth cache {settings.HARNMODEL_AUTH_CACHE_SECONDS} s)")
    outcome.conclude(result, checks, args.out)


if __name__ == "__main__":
    main()
