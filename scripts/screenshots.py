"""The operator console screenshots in the README, reproducible: `scripts/screenshots [--out DIR]`.

Everything happens in a temporary directory (SQLite database, generated secrets) that is removed at
the end; nothing touches var/. The channel "openai-proxy" points at a closed local port, so the real
requests sent through the gateway fail over to the simulator and its breaker opens: the control room
shows it cooling down for real. No other upstream is ever contacted (drained / disabled / unused).
"""

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's package, as in tests/browser
VIEWPORT = {"width": 1280, "height": 900}
PASSWORD = "screenshots-only-password"


def _configure(tmp: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "harnmodel.settings",
        "HARNMODEL_VAR_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp / 'console.sqlite3'}",
        "HARNMODEL_DEMO_ADMIN_PASSWORD": PASSWORD,
        "HARNMODEL_ADMIN_TOTP": "false",
        "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    os.environ.pop("REDIS_URL", None)  # embedded mode: breaker state lives in the one server process


def _seed() -> str:
    """The demo plus customers, models, channels and 30 days of usage. Returns the demo API key."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.demo import seed_demo
    from accounts.services import account_create
    from billing import services as billing
    from billing.models import UsageRecord
    from billing.money import parse_amount
    from billing.pricing import Usage
    from billing.selectors import price_current, price_snapshot
    from gateway.admin import probe_now
    from gateway.models import CatalogModel, Channel, ChannelModel
    from gateway.services import channel_set_secret

    call_command("migrate", verbosity=0, interactive=False)
    demo = seed_demo()

    for public_id, display, prices in [
        ("deepseek-chat", "DeepSeek V3", ("2", "0.5", "8")),
        ("claude-sonnet-4", "Claude Sonnet 4", ("21.6", "2.16", "108")),
    ]:
        CatalogModel.objects.get_or_create(public_id=public_id, defaults={"display_name": display})
        micros = [parse_amount(p) for p in prices]
        billing.price_publish(
            model_id=public_id, input_micros=micros[0], cached_input_micros=micros[1], output_micros=micros[2]
        )

    def channel(name: str, provider: str, base_url: str, models: dict[str, str], **fields) -> Channel:
        row = Channel(name=name, provider=provider, base_url=base_url, **fields)
        channel_set_secret(channel=row, secret=f"sk-demo-{name}-{zlib.crc32(name.encode()):010d}")
        row.save()
        for public_id, upstream in models.items():
            model = CatalogModel.objects.get(public_id=public_id)
            ChannelModel.objects.create(channel=row, model=model, upstream_name=upstream)
        return row

    now = timezone.now()
    simulator = Channel.objects.get(provider="simulator")
    ChannelModel.objects.get_or_create(channel=simulator, model=CatalogModel.objects.get(public_id="deepseek-chat"))
    channel("openai-proxy", "openai_chat", "http://127.0.0.1:9/v1", {"gpt-4o": ""}, priority=10, weight=3)
    channel("deepseek-cn", "openai_chat", "https://api.deepseek.com/v1", {"deepseek-chat": ""}, priority=5,
            last_probe_at=now, last_probe_ok=True, last_probe_latency_ms=96)  # fmt: skip
    channel("openai-backup", "openai_chat", "https://api.openai.com/v1", {"gpt-4o": "gpt-4o-2024-08-06"},
            weight=0, last_probe_at=now, last_probe_ok=True, last_probe_latency_ms=212)  # fmt: skip
    channel("anthropic-eu", "anthropic", "https://api.anthropic.com/v1", {"claude-sonnet-4": "claude-sonnet-4-0"},
            enabled=False, disabled_reason="health: upstream refused the credentials (HTTP 401)",
            last_probe_at=now, last_probe_ok=False,
            last_probe_error="claude-sonnet-4: HTTP 401 invalid x-api-key")  # fmt: skip
    channel("azure-east", "openai_chat", "https://east.openai.azure.example/v1", {"gpt-4o": ""},
            enabled=False, disabled_reason="operator: admin (quota review)")  # fmt: skip
    probe_now([simulator])  # a real probe of the built-in simulator: offline, fills its health column

    rng = random.Random(7)
    customers = [account_create(email=f"billing@{n}.example", name=n) for n in ("acme", "globex", "initech")]
    for account in customers:
        billing.wallet_credit(
            account_id=account.pk, amount_micros=parse_amount("500"), idempotency_key=f"shots:{account.pk}"
        )
    # A month of history (usage rows, what the charts read), busier lately.
    history = []
    for hours_ago in range(24 * 30, 0, -1):
        for n in range(rng.randint(0, 2) + (4 if hours_ago < 24 else 0)):
            failed = rng.random() < 0.06
            history.append(UsageRecord(
                request_id=f"hist-{hours_ago}-{n}", account=rng.choice(customers), channel=simulator,
                model_id=rng.choice(["gpt-4o", "deepseek-chat"]), status=502 if failed else 200,
                error_code="upstream_error" if failed else "", input_tokens=1200, output_tokens=300,
                cost_micros=0 if failed else rng.randint(20_000, 90_000), latency_ms=rng.randint(250, 2400),
            ))  # fmt: skip
    UsageRecord.objects.bulk_create(history)
    for record in history:
        hours_ago = int(record.request_id.split("-")[1])
        stamp = now - timedelta(hours=hours_ago, minutes=rng.randint(0, 59))
        UsageRecord.objects.filter(pk=record.pk).update(created_at=stamp)
    # Today's charges go through the ledger (revenue today, top customers).
    price = price_snapshot(price_current(model_id="gpt-4o"))
    for i, (account, tokens) in enumerate([(customers[0], 800_000), (customers[1], 300_000), (customers[2], 90_000)]):
        request_id = f"today-{i}"
        billing.hold_reserve(
            account_id=account.pk, request_id=request_id, input_tokens=tokens, max_output_tokens=1000,
            price=price, ttl_seconds=60,
        )  # fmt: skip
        facts = billing.RequestFacts(account_id=account.pk, model_id="gpt-4o", channel_id=simulator.pk, latency_ms=640)
        billing.hold_settle(request_id=request_id, usage=Usage(input_tokens=tokens, output_tokens=900), price=price,
                            facts=facts)  # fmt: skip
    return demo["api_key"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "harnmodel.asgi:application", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--lifespan", "off"]  # fmt: skip
    log = open(tmp / "uvicorn.log", "wb")  # closed when the process ends
    server = subprocess.Popen(cmd, cwd=REPO, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"uvicorn did not start:\n{(tmp / 'uvicorn.log').read_text(errors='replace')}") from None
            time.sleep(0.2)


def _traffic(base: str, api_key: str) -> None:
    """Real requests: each tries openai-proxy first (refused), then the simulator; the breaker opens."""
    import httpx

    body = {"model": "gpt-4o", "input": "Say hello in three words."}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as client:
        for _ in range(8):
            client.post("/v1/responses", json=body).raise_for_status()


def _photograph(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    # The channel list has more columns than 1280 px hold at 100 %: it is photographed zoomed out.
    shots = [("console-home.png", "/admin/ops/", 1.0), ("console-channels.png", "/admin/gateway/channel/", 0.8)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport=VIEWPORT, locale="en-US", color_scheme="light")
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        # Fold the admin's model sidebar: the channel list needs the whole width for its columns.
        page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        written = []
        for name, url, zoom in shots:
            page.goto(base + url)
            page.wait_for_load_state("networkidle")
            page.evaluate(f"document.body.style.zoom = '{zoom}'")
            page.wait_for_timeout(1500)  # Chart.js animates its first draw
            # Down to the end of the content (plus a margin), not a screen of empty page below it.
            bottom = page.evaluate("document.querySelector('#content').getBoundingClientRect().bottom")
            height = min(VIEWPORT["height"], int(bottom) + 24)
            page.screenshot(path=str(out / name), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
            written.append(out / name)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="harnmodel-shots-"))
    server = None
    try:
        _configure(tmp)
        sys.path.insert(0, str(REPO))
        api_key = _seed()
        server, base = _serve(tmp)
        _traffic(base, api_key)
        for path in _photograph(base, out):
            print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size} bytes")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
