"""CPU per fast failure on one gateway worker: 401, 402, 403, 404 and 429 (the issue's target: < 0.2 ms).

    DATABASE_URL=postgres://…/harnmodel_x REDIS_URL=redis://…/n python bench/fastfail.py [--seconds 8] [-c 16]

Provisions (bench/provision.py) the in-process simulator model and five callers: an unknown key (401), an
empty wallet (402), a key limited to another model (403), a funded key asking for an unknown model (404)
and a key allowed one request a minute (429 after its first). Starts one uvicorn worker as bench/run does,
then per case a 2 s wrk warm-up and a measured wrk run (bench/lua/keys.lua, every status counted): CPU of
the worker from /proc over the run ÷ requests, and the same for PostgreSQL's backends of this database and
redis-server (their share of a refusal). Prints a table with the load average; JSON to bench/results/.
The database must be migrated (manage.py migrate).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")
django.setup()

import procstat  # noqa: E402
import wrkrun  # noqa: E402
from provision import provision  # noqa: E402

from accounts.selectors import account_by_email  # noqa: E402
from accounts.services import account_create  # noqa: E402
from gateway.models import ApiKey  # noqa: E402
from gateway.services import api_key_create  # noqa: E402

MODEL = "sim"


def callers() -> dict[str, tuple[str, str]]:
    """case → (key, model) for each refusal."""
    funded = provision({MODEL: ("simulator", "")}, name="fastfail")
    broke = account_by_email(email="fastfail-broke@harnmodel.local") or account_create(
        email="fastfail-broke@harnmodel.local")
    funded_account = ApiKey.objects.filter(name="fastfail").latest("id").account_id
    narrow = api_key_create(account_id=funded_account, name="fastfail-narrow", allowed_models=["another-model"])
    limited = api_key_create(account_id=funded_account, name="fastfail-limited")
    ApiKey.objects.filter(pk=limited.key.pk).update(rpm_limit=1)
    return {
        "401 unknown key": ("sk-" + "0" * 48, MODEL),
        "402 empty wallet": (api_key_create(account_id=broke.pk, name="fastfail-broke").secret, MODEL),
        "403 model not allowed": (narrow.secret, MODEL),
        "404 unknown model": (funded, "no-such-model"),
        "429 rate limited": (limited.secret, MODEL),
    }


def profile_start(pid: int, case: str, seconds: int) -> tuple[subprocess.Popen, Path]:
    """py-spy (pip install py-spy; not a dependency) on the worker for the measured run, 200 Hz, idle excluded."""
    out = wrkrun.WORK / f"profile-{case.split()[0]}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))  # the venv's, if not on PATH
    cmd = [spy, "record", "--pid", str(pid), "--rate", "200", "--duration", str(seconds), "--format", "raw",
           "--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


OURS = ("gateway/", "billing/", "accounts/", "harnmodel/", "redis/", "psycopg/", "django/")


def profile_report(process: subprocess.Popen, out: Path, top: int = 15) -> dict:
    """Where the samples are (collapsed stacks from py-spy): leaf frames (self), and the project's and its
    clients' frames by inclusive share (the event loop's and uvicorn's outer frames left out)."""
    process.wait(60)
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            if any(part in frame for part in OURS):
                inclusive[frame] = inclusive.get(frame, 0) + n
    report = {}
    print(f"profile {out} ({total} samples)")
    for title, table in (("self", own), ("inclusive", inclusive)):
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        report[title] = [(frame, round(100 * n / max(total, 1), 1)) for frame, n in ranked]
        for frame, share in report[title]:
            print(f"  {title:9} {share:5.1f} %  {frame}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--profile", default="", help="comma-separated status codes to record with py-spy (e.g. 402,429)")
    parser.add_argument("--json-out", default=str(ROOT / "bench" / "results" / f"fastfail-{time.strftime('%Y%m%d-%H%M%S')}.json"))
    args = parser.parse_args()
    database = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    cases = callers()
    gateway = wrkrun.start_gateway(args.port, 1, {})
    url = f"http://127.0.0.1:{args.port}/v1/responses"
    rows = []
    try:
        print(f"REDIS_URL={'set' if os.environ.get('REDIS_URL') else 'unset'}, C={args.concurrency}, {args.seconds} s")
        print("| case | req/s | statuses | worker ms/req | PG ms/req | Redis ms/req | machine cores | p50 ms | load 1m |")
        print("|---|---|---|---|---|---|---|---|---|")
        for case, (key, model) in cases.items():
            body = {"model": model, "input": "hello, a short question", "max_output_tokens": 16}
            groups = {"worker": procstat.tree(gateway.pid), "redis": wrkrun.pid_of("redis-server"),
                      "pg": procstat.postgres_pids(database)["backends"]}
            wrkrun.wrk(url, body, [key], args.concurrency, 2)  # warm-up, and the PG backends it opens
            groups["pg"] = procstat.postgres_pids(database)["backends"]
            profiler = profile_start(gateway.pid, case, args.seconds) if case[:3] in args.profile.split(",") else None
            row = {"case": case, **wrkrun.measured(url, body, [key], args.concurrency, args.seconds, groups,
                                                    warmup=0)}
            if profiler is not None:
                row["profile"] = profile_report(*profiler)
            rows.append(row)
            print(f"| {case} | {row['rps']} | {row['statuses']} | {row['worker_ms_per_req']} | {row['pg_ms_per_req']}"
                  f" | {row['redis_ms_per_req']} | {row['machine_cores']} | {row['p50_ms']} | "
                  f"{row['load_before'][0]}→{row['load_after'][0]} |", flush=True)
    finally:
        wrkrun.stop(gateway)
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps({"command": sys.argv, "concurrency": args.concurrency,
                                               "redis": bool(os.environ.get("REDIS_URL")), "cases": rows}, indent=1))
    print(f"JSON: {args.json_out}")


if __name__ == "__main__":
    main()
