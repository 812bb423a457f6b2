"""Memory curve of one gateway worker: RSS after every EVERY requests, up to REQUESTS.

    python bench/memory.py --target URL --key KEY --pid PID [--requests 100000] [--every 10000]

Run by `bench/run memory` (one worker, PostgreSQL, the nginx mock and the channels of
bench/provision.py). Requests alternate non-stream (`gpt-4o`) and stream (`gpt-4o-stream`,
58 events); a closed loop of --concurrency aiohttp connections sends each batch of --every
requests, then the worker's RSS (/proc/PID/statm) and VmHWM are read while it is idle. Every answer
is checked (200 with usage, streams ending in response.completed). Prints the curve and the growth
from the 20 % mark (20k of 100k) to the end; --json-out appends one JSON line per sample.
"""

import argparse
import asyncio
import json
import os
import time

import aiohttp

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_KIB / 1024


def hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def one(session: aiohttp.ClientSession, url: str, index: int) -> bool:
    stream = index % 2 == 1
    body = {"model": "gpt-4o-stream" if stream else "gpt-4o", "input": f"memory #{index}", "stream": stream}
    async with session.post(url, json=body) as response:
        data = await response.read()
    if response.status != 200:
        return False
    return b"response.completed" in data if stream else b'"usage"' in data


async def batch(session: aiohttp.ClientSession, url: str, start: int, count: int, concurrency: int) -> int:
    """Send requests start..start+count-1; returns how many failed."""
    next_index, failed = start, 0

    async def worker() -> None:
        nonlocal next_index, failed
        while next_index < start + count:
            index, next_index = next_index, next_index + 1
            try:
                ok = await one(session, url, index)
            except aiohttp.ClientError:
                ok = False
            failed += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


async def curve(args: argparse.Namespace) -> list[dict]:
    url = args.target.rstrip("/") + "/v1/responses"
    headers = {"authorization": f"Bearer {args.key}"}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    samples = [{"requests": 0, "rss_mib": rss_mib(args.pid), "hwm_mib": hwm_mib(args.pid), "rps": None, "failed": 0}]
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        done = 0
        while done < args.requests:
            count = min(args.every, args.requests - done)
            started = time.perf_counter()
            failed = await batch(session, url, done, count, args.concurrency)
            elapsed = time.perf_counter() - started
            done += count
            sample = {"requests": done, "rss_mib": rss_mib(args.pid), "hwm_mib": hwm_mib(args.pid),
                      "rps": count / elapsed, "failed": failed}
            samples.append(sample)
            print(f"{done:>9,}{sample['rss_mib']:>10.1f}{sample['hwm_mib']:>10.1f}{sample['rps']:>9.0f}{failed:>8}",
                  flush=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the gateway worker")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json-out", default="")
    args = parser.parse_args()
    if args.requests < 1 or args.every < 1:
        parser.error("--requests and --every must be positive")
    print(f"memory curve of pid {args.pid}: {args.requests:,} requests (half streamed), C={args.concurrency}")
    print(f"{'requests':>9}{'RSS MB':>10}{'HWM MB':>10}{'req/s':>9}{'failed':>8}")
    print(f"{0:>9}{rss_mib(args.pid):>10.1f}{hwm_mib(args.pid):>10.1f}{'':>9}{'':>8}")
    samples = asyncio.run(curve(args))
    mark = next(s for s in samples if s["requests"] >= args.requests / 5)
    last = samples[-1]
    growth = last["rss_mib"] - mark["rss_mib"]
    print(f"RSS growth {mark['requests']:,} → {last['requests']:,} requests: {growth:+.1f} MB "
          f"({100 * growth / mark['rss_mib']:+.1f} %); peak (VmHWM) {last['hwm_mib']:.1f} MB; "
          f"failed {sum(s['failed'] for s in samples)}")
    if args.json_out:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(args.json_out, "a") as f:
            for sample in samples:
                f.write(json.dumps({"kind": "memory", "started": stamp, "concurrency": args.concurrency, **sample}) + "\n")


if __name__ == "__main__":
    main()
