"""Soak: 10 000 requests through three channels while one of them flaps; every answer is checked.

    .venv/bin/python bench/soak.py [--requests 10000] [--concurrency 64] [--flap 3] [--workers 1]

The gateway runs for real (uvicorn subprocess) on a fresh SQLite file (or --database-url, e.g. a
PostgreSQL database that exists; REDIS_URL from the environment is passed on). Channels a, b, c are
three base URLs of one fault-injecting upstream (tests/upstream/faulty.py); every --flap seconds c
switches between healthy and the next fault: 500, 429 + Retry-After, no first byte (hang), dropped
connection, unreadable reply, 503. Half the requests stream. An answer counts as correct only if it
is the upstream's exact echo of this request's own input (streams: completed, no error event).
Target: 100 % correct while one healthy channel exists. Not part of the test suite.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FAULTS = ["500", "429", "hang", "drop", "garbage", "503"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(faulty) -> str:
    from accounts.services import account_create
    from billing import services as billing
    from billing.money import parse_amount
    from gateway.models import Channel
    from gateway.services import api_key_create
    from tests.factories import make_channel, make_model

    make_model("gpt-4o")
    for name in "abc":
        channel = make_channel(f"soak-{name}", provider="openai_responses", base_url=faulty.url(name),
                               secret="sk-up", models={"gpt-4o": "up-model"})
        Channel.objects.filter(pk=channel.pk).update(first_byte_timeout=1.0, idle_timeout=3.0, connect_timeout=1.0)
    account = account_create(email=f"soak-{time.time_ns()}@example.com")
    billing.wallet_credit(account_id=account.pk, amount_micros=parse_amount("100000"),
                          idempotency_key=f"soak:{account.pk}", note="soak")
    return api_key_create(account_id=account.pk, name="soak").secret


def start_gateway(database_url: str, workers: int, cooldown: float, verbose: bool) -> tuple[subprocess.Popen, str]:
    from django.conf import settings

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "HARNMODEL_KEY_HMAC_SECRET": settings.HARNMODEL_KEY_HMAC_SECRET,
        "HARNMODEL_ENCRYPTION_KEY": settings.HARNMODEL_ENCRYPTION_KEY,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "ERROR"),
        "HARNMODEL_BREAKER_COOLDOWN": str(cooldown),
    }
    cmd = [sys.executable, "-m", "uvicorn", "harnmodel.asgi:application", "--host", "127.0.0.1", "--port", str(port),
           "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--lifespan", "off",
           "--workers", str(workers), "--timeout-keep-alive", "75"]
    output = None if verbose else subprocess.DEVNULL
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=output, stderr=output)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gateway did not start") from None
            time.sleep(0.1)


def flapper(faulty, period: float, stop: threading.Event, log: list, faults: list[str]) -> None:
    """Channel c: healthy for a period, then the next fault for a period, round and round."""
    index = 0
    while not stop.is_set():
        faulty.ok("c")
        log.append((time.monotonic(), "ok"))
        if stop.wait(period):
            break
        fault = faults[index % len(faults)]
        index += 1
        if fault in ("500", "503"):
            faulty.fail("c", int(fault))
        elif fault == "429":
            faulty.fail("c", 429, headers={"retry-after": "2"})
        elif fault == "hang":
            faulty.hang("c")
        elif fault == "drop":
            faulty.drop("c")
        else:
            faulty.garbage("c")
        log.append((time.monotonic(), fault))
        stop.wait(period)
    faulty.ok("c")


def check(stream: bool, status: int, payload, expected: str) -> str:
    """'' when the answer is right, else what was wrong."""
    if status != 200:
        return f"http {status}"
    if not stream:
        text = "".join(p.get("text", "") for item in payload.get("output", []) if item.get("type") == "message"
                       for p in item.get("content", []))
        return "" if text == expected and payload.get("status") == "completed" else "wrong json answer"
    types = [kind for kind, _ in payload]
    if "error" in types or not types or types[-1] != "response.completed":
        return "stream failed"
    text = "".join(data.get("delta", "") for kind, data in payload if kind == "response.output_text.delta")
    return "" if text == expected else "wrong stream answer"


async def one(client, key: str, index: int, results: list) -> None:
    import httpx

    stream = index % 2 == 1
    prompt = f"soak #{index}"
    body = {"model": "gpt-4o", "input": prompt, "stream": stream, "max_output_tokens": 50}
    headers = {"authorization": f"Bearer {key}"}
    started = time.perf_counter()
    problem, request_id = "", ""
    try:
        if stream:
            events, kind = [], None
            async with client.stream("POST", "/v1/responses", json=body, headers=headers) as response:
                status, request_id = response.status_code, response.headers.get("x-request-id", "")
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        events.append((kind, json.loads(line[6:])))
            problem = check(True, status, events, "你说：" + prompt)
        else:
            response = await client.post("/v1/responses", json=body, headers=headers)
            request_id = response.headers.get("x-request-id", "")
            problem = check(False, response.status_code, response.json(), "你说：" + prompt)
    except httpx.HTTPError as error:
        problem = f"client error {type(error).__name__}: {error} ({'stream' if stream else 'json'})"
    results.append((time.perf_counter() - started, problem, request_id, time.monotonic()))


async def load(base_url: str, key: str, total: int, concurrency: int) -> tuple[list, float]:
    import httpx

    results: list = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                await one(client, key, queue.get_nowait(), results)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(results: list, elapsed: float, flaps: list, faulty) -> dict:
    from collections import Counter

    from billing.models import Hold, UsageRecord

    latencies = [r[0] for r in results]
    problems = Counter(r[1] for r in results if r[1])
    records = UsageRecord.objects.all()
    tries = Counter(len(r.attempts) for r in records)
    errors = Counter(a.get("error") for r in records for a in r.attempts if a.get("error"))
    failed = [UsageRecord.objects.filter(request_id=r[2]).first() for r in results if r[1] and r[2]]
    lost = [(round(r[3] - flaps[0][0], 2), next((f for t, f in reversed(flaps) if t <= r[3]), "?"), r[1])
            for r in results if r[1] and not r[2]]
    failures = [
        {"request": rec.request_id, "error_code": rec.error_code, "status": rec.status, "attempts": rec.attempts,
         "latency_ms": rec.latency_ms}
        for rec in failed if rec is not None
    ]
    return {
        "requests": len(results),
        "correct": len(results) - sum(problems.values()),
        "success_rate": round(100 * (len(results) - sum(problems.values())) / len(results), 3),
        "problems": dict(problems),
        "throughput_rps": round(len(results) / elapsed, 1),
        "latency_ms": {f"p{p}": round(percentile(latencies, p) * 1000, 1) for p in (50, 90, 99, 99.9)}
        | {"max": round(max(latencies) * 1000, 1)},
        "usage_records": records.count(),
        "open_holds": Hold.objects.filter(status=Hold.Status.OPEN).count(),
        "attempts_per_request": dict(sorted(tries.items())),
        "failed_attempt_reasons": dict(errors),
        "upstream_hits": {name: faulty.count(name) for name in "abc"},
        "flaps": len([f for f in flaps if f[1] != "ok"]),
        "failures": failures[:20],
        "lost_before_admission": lost[:20],  # (seconds into the run, channel c's phase, what the client saw)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--flap", type=float, default=3.0, help="seconds per healthy/faulty phase of channel c")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cooldown", type=float, default=5.0, help="breaker cooldown (s) for the gateway")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--verbose", action="store_true", help="show the gateway's own output")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, from {FAULTS}")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='soak-')}/soak.sqlite3"
    setup_django(database_url)
    from tests.upstream.faulty import FaultyUpstream

    faulty = FaultyUpstream().start()
    key = seed(faulty)
    process, base_url = start_gateway(database_url, args.workers, args.cooldown, args.verbose)
    stop, flaps = threading.Event(), []
    flapping = threading.Thread(target=flapper, args=(faulty, args.flap, stop, flaps, args.faults.split(",")), daemon=True)
    try:
        flapping.start()
        results, elapsed = asyncio.run(load(base_url, key, args.requests, args.concurrency))
        stop.set()
        flapping.join()
        time.sleep(1.0)  # the last settlements
        summary = report(results, elapsed, flaps, faulty)
    finally:
        stop.set()
        process.terminate()
        process.wait(10)
        faulty.stop()
    summary["database"] = database_url.split("://")[0]
    summary["breaker_cooldown_s"] = args.cooldown
    summary["redis"] = bool(os.environ.get("REDIS_URL"))
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
