"""A/B of uvicorn's HTTP parsers for `scripts/run` (issue M6): plain httptools (unbounded heads), our bounded
httptools protocol (harnmodel/http_protocol.py, the default) and h11 with --h11-max-incomplete-event-size.

    .venv/bin/python bench/http_parsers.py [--seconds 8] [--conc 16] [--rounds 2] [--path /v1/models]

One uvicorn worker started as scripts/run starts it (uvloop, no access log), on a fresh SQLite database in a
temporary HARNMODEL_VAR_DIR (migrated, demo seeded). Keep-alive clients (raw asyncio sockets, so the client
stays cheap) send the authenticated GET for `--seconds`; parsers are interleaved `--rounds` times. Not a test.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
PARSERS = {
    "httptools": ["--http", "httptools"],
    "bounded": ["--http", "harnmodel.http_protocol:BoundedHttpToolsProtocol"],
    "h11": ["--http", "h11", "--h11-max-incomplete-event-size", "16384"],
}
# Measured on the shared 2-core box (load ≈ 4 from other work), 16 connections, best (median) of the rounds:
#   harnmodel.asgi:application GET /v1/models, 2 × 8 s: httptools 152, bounded 149, h11 166 req/s (the app dominates)
#   tests.cli.test_http_protocol:echo GET /, 5 × 3 s:    httptools 19 767 (12 675), bounded 19 725 (14 302),
#                                                        h11 6 111 (5 113) req/s: h11 costs ~3×, the bound nothing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def client(port: int, request: bytes, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < until:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if b"content-length: " not in head.lower():
            raise SystemExit(f"no content-length in {head!r}")
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        counts[0] += 1
    writer.close()


async def load(port: int, request: bytes, seconds: float, conc: int) -> float:
    counts = [0]
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(client(port, request, until, counts) for _ in range(conc)))
    return counts[0] / (time.monotonic() - started)


def serve(app: str, flags: list[str], env: dict, port: int) -> subprocess.Popen:
    argv = [PY, "-m", "uvicorn", app, "--port", str(port), "--loop", "uvloop"]
    process = subprocess.Popen([*argv, "--no-access-log", *flags], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("uvicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--conc", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", default="/v1/models")
    # tests.cli.test_http_protocol:echo isolates the parser: an app that does almost nothing
    parser.add_argument("--app", default="harnmodel.asgi:application")
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="hm-parsers-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HARNMODEL_VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="harnmodel.settings")
    try:
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        seed = json.loads(subprocess.run([PY, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True,
                                         capture_output=True, text=True).stdout)
        request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {seed['api_key']}\r\n"
                   "User-Agent: bench/http_parsers\r\nAccept: application/json\r\n\r\n").encode()
        results: dict[str, list[float]] = {name: [] for name in PARSERS}
        for _ in range(args.rounds):
            for name, flags in PARSERS.items():
                port = free_port()
                process = serve(args.app, flags, env, port)
                try:
                    asyncio.run(load(port, request, 1.0, args.conc))  # warm-up
                    results[name].append(asyncio.run(load(port, request, args.seconds, args.conc)))
                finally:
                    process.terminate()
                    process.wait(20)
        base = max(results["httptools"])
        print(f"{args.app} GET {args.path}, {args.conc} connections, {args.seconds:.0f} s x {args.rounds} rounds")
        for name, runs in results.items():
            best = max(runs)
            print(f"  {name:10s} best {best:8.0f} req/s  ({best / base:5.1%} of httptools)  runs {[round(r) for r in runs]}")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
