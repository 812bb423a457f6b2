"""Per-request overhead of three ways to serve POST /v1/responses, measured in-process.

    .venv/bin/python bench/viewstyle.py [--requests 2000] [--warmup 200] [--modes json,stream]

Issue 2 asks to measure an async DRF-family view (adrf) against a plain async Django view and keep the
faster. This script serves the same pipeline (`gateway.relay.handle.responses`, which calls
`gateway.relay.admit.handle_responses`) three ways and drives each ASGI app directly (scope/receive/send; no
socket, no HTTP parser, no upstream):

* adrf   — an `adrf.views.APIView` defined here (no authenticators, permissions or throttles: the pipeline
           does its own auth), routed by Django's full ASGI handler with the project's middleware;
* django — the project's plain async view (`gateway.views.responses`) through the same full ASGI handler;
* lean   — the lean ASGI front (`gateway.relay.front.GatewayApp`) that production uses for /v1/responses.

The model is served by a `simulator` channel with zero latency, so what is measured is the gateway:
auth, admission, hold, relay, settlement, ledger and usage rows. Requests run one at a time. "mean" is the
batch's total wall (or CPU, `time.process_time`, all threads) divided by N, after the relay's background
work of the batch has finished; p50/p99 are of the per-request wall time (until the last body message).

Database: DATABASE_URL if set (it is migrated), else a fresh SQLite file in a temporary HARNMODEL_VAR_DIR
that is deleted at the end.
"""

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_tmp_var: str | None = None
if "HARNMODEL_VAR_DIR" not in os.environ:
    _tmp_var = tempfile.mkdtemp(prefix="harnmodel-viewstyle-")
    os.environ["HARNMODEL_VAR_DIR"] = _tmp_var
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")  # no per-request log lines in the measurement or the table

import django  # noqa: E402

django.setup()

from adrf.views import APIView  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from gateway.relay import handle  # noqa: E402
from gateway.relay.front import GatewayApp  # noqa: E402

MODEL = "viewstyle-sim"
BODY_TEXT = '{"model": "%s", "instructions": "使用简洁中文回答。", "input": "用一句话介绍你自己。"%s}'


class AdrfResponses(APIView):
    """The adrf variant: an async APIView handing DRF's request (it proxies `method`, `headers`, `body` to
    Django's) to the same pipeline the real view calls. DRF's auth/permission/throttle machinery is switched
    off, since the pipeline authenticates the API key itself; what remains is adrf's own dispatch."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    calls = 0  # proves the adrf route, not the project's, answered

    async def post(self, request, *args, **kwargs):
        AdrfResponses.calls += 1
        return await handle.responses(request)


def _adrf_urlconf() -> str:
    """The project's URLconf with /v1/responses served by the adrf view instead (same position, same resolver)."""
    from gateway import meta_views
    from gateway.protocols.responses import openapi_view
    from harnmodel import urls as project_urls

    gateway_urls = types.ModuleType("viewstyle_gateway_urls")
    gateway_urls.urlpatterns = [
        path("responses", AdrfResponses.as_view(), name="responses"),
        path("models", meta_views.models_list, name="models"),
        path("openapi.json", openapi_view.openapi_json, name="openapi"),
        path("models/<path:model_id>", meta_views.model_detail, name="model-detail"),
    ]
    root = types.ModuleType("viewstyle_adrf_urls")
    root.urlpatterns = [
        path("v1/", django.urls.include(gateway_urls)) if str(p.pattern) == "v1/" else p
        for p in project_urls.urlpatterns
    ]
    sys.modules[gateway_urls.__name__] = gateway_urls
    sys.modules[root.__name__] = root
    return root.__name__


def provision() -> str:
    """A funded customer, a key and MODEL on a zero-latency simulator channel."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provision import provision as bench_provision

    return bench_provision({MODEL: ("simulator", "")}, name="viewstyle", options={"latency_ms": 0, "token_delay_ms": 0})


class Driver:
    """Calls an ASGI app the way uvicorn would, for one request at a time."""

    def __init__(self, key: str) -> None:
        self.headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"user-agent", b"viewstyle-bench"),
        ]

    def scope(self, body: bytes) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/responses",
            "raw_path": b"/v1/responses",
            "root_path": "",
            "query_string": b"",
            "headers": [*self.headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    async def call(self, app, body: bytes) -> tuple[int, bytes]:
        delivered = False
        never = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()  # the client stays connected; the app cancels this watcher when done
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(self.scope(body), receive, send)
        return status, b"".join(chunks)


async def _drain() -> None:
    """Let the relay's background work (settlement, usage rows) of the batch finish, so it is counted."""
    me = asyncio.current_task()
    for _ in range(1000):
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done() and "livelog" not in t.get_name()]
        if not pending:
            return
        await asyncio.sleep(0.001)


async def run_batch(app, driver: Driver, body: bytes, n: int, stream: bool) -> dict[str, float]:
    walls: list[float] = []
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        status, content = await driver.call(app, body)
        walls.append(time.perf_counter() - t0)
        if status != 200 or (stream and b"event: response.completed" not in content):
            raise SystemExit(f"unexpected answer {status}: {content[:300]!r}")
    await _drain()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    walls.sort()
    return {
        "wall_us": wall / n * 1e6,
        "cpu_us": cpu / n * 1e6,
        "p50_us": statistics.median(walls) * 1e6,
        "p99_us": walls[min(n - 1, int(n * 0.99))] * 1e6,
        "rps": n / wall,
    }


async def measure(args, key: str) -> list[tuple[str, str, dict[str, float]]]:
    driver = Driver(key)
    django_app = get_asgi_application()
    lean_app = GatewayApp(fallback=django_app)
    adrf_urlconf = _adrf_urlconf()
    variants = [
        ("adrf APIView (Django ASGI + middleware)", django_app, adrf_urlconf),
        ("plain async Django view (Django ASGI + middleware)", django_app, settings.ROOT_URLCONF),
        ("lean ASGI front (gateway/relay/front.py)", lean_app, settings.ROOT_URLCONF),
    ]
    rows = []
    for mode in args.modes:
        stream = mode == "stream"
        body = (BODY_TEXT % (MODEL, ', "stream": true' if stream else "")).encode()
        for name, app, urlconf in variants:
            with override_settings(ROOT_URLCONF=urlconf):
                await run_batch(app, driver, body, args.warmup, stream)
                result = await run_batch(app, driver, body, args.requests, stream)
            if app is django_app and urlconf == adrf_urlconf and AdrfResponses.calls < args.requests:
                raise SystemExit("the adrf view did not answer the adrf batch")
            rows.append((mode, name, result))
            print(
                f"  {mode:6} {name:52} mean {result['wall_us']:8.0f} µs  cpu {result['cpu_us']:8.0f} µs",
                file=sys.stderr,
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--modes", default="json,stream", help="comma-separated: json, stream")
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    try:
        call_command("migrate", verbosity=0, interactive=False)
        key = provision()
        connections.close_all()  # the loop's threads open their own
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        rows = runner(measure(args, key))
    finally:
        connections.close_all()
        if _tmp_var:
            shutil.rmtree(_tmp_var, ignore_errors=True)

    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        f"\nPOST /v1/responses, simulator (0 latency), {db}, N={args.requests} after {args.warmup} warm-up, "
        f"sequential, in-process ASGI calls, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}\n"
    )
    print("| mode | view | mean wall µs | mean CPU µs | p50 µs | p99 µs | req/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for mode, name, r in rows:
        print(
            f"| {mode} | {name} | {r['wall_us']:.0f} | {r['cpu_us']:.0f} | {r['p50_us']:.0f} | "
            f"{r['p99_us']:.0f} | {r['rps']:.0f} |"
        )


if __name__ == "__main__":
    main()
