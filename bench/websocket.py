"""Responses over WebSocket against HTTP: turns/s and the latency each adds per turn, through the simulator.

    .venv/bin/python bench/websocket.py [--turns 500] [--warmup 50] [--concurrency 1,16] [--repeat 3]
                                        [--database-url URL]

The gateway runs for real (one uvicorn worker, uvloop, httptools, websockets) on a fresh SQLite file (or
--database-url: an existing PostgreSQL database, migrated here; REDIS_URL from the environment is passed on).
The model is a `simulator` channel with no latency, so what is measured is the gateway: auth, admission, hold,
relay, settlement, usage record and ledger, once per turn on both transports. Each of C clients runs turns
one after another:

* http — `POST /v1/responses` with `stream: true` over one keep-alive connection per client, read to the end;
* ws   — `response.create` frames on one socket per client (opened before the clock starts), read to the
         `response.completed` frame; permessage-deflate negotiated as Codex does (--no-compression: off).

A turn's latency is from sending the request to its last event. Each row is the median of --repeat runs (the
transports alternate first). "added" is ws minus http mean latency at the same C (negative: the socket is
faster). Not part of the test suite.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import soak  # noqa: E402  (free_port, setup_django, start_gateway)

MODEL = "sim"
BODY = {"model": MODEL, "instructions": "使用简洁中文回答。", "input": "用一句话介绍你自己。"}


async def http_client(base: str, key: str, turns: int) -> list[float]:
    latencies = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        for _ in range(turns):
            started = time.perf_counter()
            async with client.stream("POST", "/v1/responses", json={**BODY, "stream": True}, headers=headers) as reply:
                body = await reply.aread()
            if reply.status_code != 200 or b"response.completed" not in body:
                raise SystemExit(f"http turn failed: {reply.status_code} {body[:300]!r}")
            latencies.append(time.perf_counter() - started)
    return latencies


COMPRESSION: str | None = "deflate"  # what Codex and the websockets client offer; --no-compression: none


async def ws_client(base: str, key: str, turns: int, ready: asyncio.Event) -> list[float]:
    latencies = []
    url = base.replace("http://", "ws://") + "/v1/responses"
    frame = json.dumps({"type": "response.create", **BODY})
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None,
                       compression=COMPRESSION) as ws:
        await ready.wait()
        for _ in range(turns):
            started = time.perf_counter()
            await ws.send(frame)
            while True:
                event = json.loads(await ws.recv())
                if event["type"] in ("response.completed", "error", "response.failed"):
                    break
            if event["type"] != "response.completed":
                raise SystemExit(f"ws turn failed: {event}")
            latencies.append(time.perf_counter() - started)
    return latencies


async def measure(mode: str, base: str, key: str, turns: int, concurrency: int) -> dict:
    per_client = max(1, turns // concurrency)
    ready = asyncio.Event()
    if mode == "http":
        jobs = [http_client(base, key, per_client) for _ in range(concurrency)]
        ready.set()
    else:
        jobs = [ws_client(base, key, per_client, ready) for _ in range(concurrency)]
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if mode == "ws":
        await asyncio.sleep(0.5)  # every socket open before the clock starts
        ready.set()
    started = time.perf_counter()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    latencies = sorted(value * 1000 for result in results for value in result)
    return {
        "mode": mode,
        "c": concurrency,
        "turns": len(latencies),
        "turns_s": len(latencies) / wall,
        "mean": statistics.fmean(latencies),
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--repeat", type=int, default=3, help="runs per transport; medians are reported")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate on the socket")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    global COMPRESSION
    COMPRESSION = None if args.no_compression else "deflate"
    tmp = None
    if args.database_url:
        database_url = args.database_url
    else:
        tmp = tempfile.mkdtemp(prefix="harnmodel-wsbench-")
        os.environ.setdefault("HARNMODEL_VAR_DIR", tmp)
        database_url = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    soak.setup_django(database_url)
    from provision import provision

    key = provision({MODEL: ("simulator", "")}, name="wsbench", options={"latency_ms": 0, "token_delay_ms": 0})
    process, base = soak.start_gateway(database_url, workers=1, cooldown=30.0, verbose=args.verbose)
    rows = []
    try:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            runs: dict[str, list[dict]] = {"http": [], "ws": []}
            for repeat in range(args.repeat):
                # Alternate the order so the machine's drift hits both transports alike.
                for mode in ("http", "ws") if repeat % 2 == 0 else ("ws", "http"):
                    asyncio.run(measure(mode, base, key, args.warmup, min(concurrency, args.warmup)))
                    runs[mode].append(asyncio.run(measure(mode, base, key, args.turns, concurrency)))
            for mode in ("http", "ws"):
                rows.append({name: (statistics.median(run[name] for run in runs[mode])
                                    if name not in ("mode", "c", "turns") else runs[mode][0][name])
                             for name in runs[mode][0]})
    finally:
        process.terminate()
        process.wait(10)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    http = {row["c"]: row for row in rows if row["mode"] == "http"}
    print(f"{'mode':<5} {'C':>3} {'turns':>6} {'turns/s':>8} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7} {'added ms':>9}")
    for row in rows:
        added = row["mean"] - http[row["c"]]["mean"] if row["mode"] == "ws" else 0.0
        print(f"{row['mode']:<5} {row['c']:>3} {row['turns']:>6} {row['turns_s']:>8.1f} {row['mean']:>8.2f} "
              f"{row['p50']:>7.2f} {row['p99']:>7.2f} {added:>+9.2f}")


if __name__ == "__main__":
    main()
