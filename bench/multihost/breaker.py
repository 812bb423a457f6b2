"""A tripped breaker is seen by every host within seconds.

The flaky channel's upstream (mock.py) fails only requests from the TRIP host. That host is sent requests
one after another until it answers 503 `model_not_available` (its breaker open), while every other host is
asked every INTERVAL at its own address, where the same upstream still answers: a host that turns to 503
did not fail itself, it read the shared breaker (gateway/relay/breaker.py, one Redis hash per channel and
model). Reports per host the seconds from the moment the breaker opened (read back from that hash: its
open-until minus the cooldown) to the host's first 503, and each host's breaker gauge from /metrics.

usage: breaker.py --state state.json --hosts h1=http://10.77.0.11:8000,... --trip h1 --out breaker.json
"""

import argparse
import asyncio
import json
import time

import aiohttp
import client
import djangoenv  # noqa: F401
import outcome
import redis
import request
from django.conf import settings
from revoke import hosts_arg

from gateway.relay import breaker

COOLING = (503, "model_not_available")


async def trip(http, base: str, key: str, limit: float) -> dict:
    failures, started = 0, time.time()
    while time.time() - started < limit:
        answer = await client.post(http, base, "/v1/responses", key, request.body(request.FLAKY_MODEL))
        if (answer.status, answer.code) == COOLING:
            return {"failures_before_open": failures, "cooling_at": answer.ended}
        failures += 1
    return {"failures_before_open": failures, "cooling_at": None}


async def watch(http, base: str, key: str, stop_at: float, interval: float) -> dict:
    served, first_cooling = 0, None
    while time.time() < stop_at:
        answer = await client.post(http, base, "/v1/responses", key, request.body(request.FLAKY_MODEL))
        if (answer.status, answer.code) == COOLING:
            first_cooling = answer.ended
            break
        served += answer.status == 200
        await asyncio.sleep(interval)
    return {"served_before": served, "cooling_at": first_cooling}


async def gauge(http, base: str, channel_id: int) -> float | None:
    """This host's harnmodel_breaker_state for the flaky channel (2 = open), None if it has no sample."""
    async with http.get(base + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("harnmodel_breaker_state{") and f'model="{request.FLAKY_MODEL}"' in line \
                and f'channel="{channel_id}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def opened_at(channel_id: int) -> float | None:
    """When the breaker opened, from the shared hash: open-until minus the cooldown, in seconds."""
    raw = redis.Redis.from_url(settings.REDIS_URL).hget(breaker._key(channel_id, request.FLAKY_MODEL), "o")
    return (int(raw) - settings.HARNMODEL_BREAKER_COOLDOWN * 1000) / 1000 if raw and int(raw) else None


async def run(hosts: dict[str, str], trip_host: str, key: str, channel_id: int, limit: float, interval: float):
    others = {name: base for name, base in hosts.items() if name != trip_host}
    async with client.session() as http:
        warm = {name: (await client.post(http, base, "/v1/responses", key, request.body(request.FLAKY_MODEL))).status
                for name, base in others.items()}
        stop_at = time.time() + limit
        tripped, *watched = await asyncio.gather(
            trip(http, hosts[trip_host], key, limit),
            *(watch(http, base, key, stop_at, interval) for base in others.values()))
        gauges = {}
        for name, base in hosts.items():
            try:
                gauges[name] = await gauge(http, base, channel_id)
            except aiohttp.ClientError as error:
                gauges[name] = f"unreadable: {type(error).__name__}"
    return warm, tripped, dict(zip(others, watched, strict=True)), gauges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--hosts", type=hosts_arg, required=True, help="name=url,...")
    parser.add_argument("--trip", required=True, help="the host whose upstream requests fail")
    parser.add_argument("--limit", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = json.load(open(args.state))
    key, channel_id = state["customers"]["breaker"]["key"], state["channels"][request.FLAKY_MODEL]
    warm, tripped, watched, gauges = asyncio.run(
        run(args.hosts, args.trip, key, channel_id, args.limit, args.interval))
    opened = opened_at(channel_id)
    seen = {args.trip: tripped["cooling_at"], **{n: w["cooling_at"] for n, w in watched.items()}}
    after = {n: round(t - opened, 3) if t and opened else None for n, t in seen.items()}
    checks = {
        "other_hosts_served_before": all(status == 200 for status in warm.values()),
        "breaker_opened": opened is not None,
        "every_host_saw_it_open": all(t is not None for t in seen.values()),
        "every_gauge_open": all(g == 2 for g in gauges.values()),
    }
    result = {"check": "breaker", "trip_host": args.trip, "failures_before_open": tripped["failures_before_open"],
              "breaker_failures_setting": settings.HARNMODEL_BREAKER_FAILURES,
              "cache_seconds": settings.HARNMODEL_BREAKER_CACHE_SECONDS, "poll_interval_s": args.interval,
              "seen_open_after_s": after, "served_before_open": {n: w["served_before"] for n, w in watched.items()},
              "gauges": gauges, "slowest_s": max((t for t in after.values() if t is not None), default=None)}
    print(f"breaker: opened by {args.trip} after {tripped['failures_before_open']} failures; seen open after "
          + ", ".join(f"{n} {t} s" for n, t in after.items()) + f"; gauges {gauges}")
    outcome.conclude(result, checks, args.out)


if __name__ == "__main__":
    main()
