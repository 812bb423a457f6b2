"""The hot wallet: one account's keys against 100 accounts' keys, same load, same gateway.

    DATABASE_URL=postgres://…/harnmodel_x REDIS_URL=redis://…/n python bench/hotwallet.py \\
        [--workers 2] [-c 64] [--seconds 10] [--repeat 3] [--mock-port 18180]

Starts the shared harness's nginx mock on --mock-port, provisions `gpt-4o` on it (bench/provision.py) and 100
funded accounts with a key each, starts uvicorn with --workers, then runs wrk (bench/lua/keys.lua) at C
non-stream `/v1/responses`: every request on one account's key, or each request on the next of the 100
accounts' keys. Repeats are outermost and the order alternates. During each run pg_stat_activity is sampled
every 50 ms (this database's active backends: what they wait on) and pg_locks (lock waits by kind). Prints
req/s, CPU per request (gateway, PostgreSQL, Redis, nginx), the wait events and the ratio one ÷ 100;
JSON to bench/results/. The database must be migrated (manage.py migrate).
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import threading
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
import psycopg  # noqa: E402
import wrkrun  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.selectors import account_by_email  # noqa: E402
from accounts.services import account_create  # noqa: E402
from billing.money import parse_amount  # noqa: E402
from billing.services import wallet_credit  # noqa: E402
from gateway.services import api_key_create  # noqa: E402

ACCOUNTS = 100
BODY = {"model": "gpt-4o", "input": "Say hello in one short sentence, please."}  # as the harness's small body


def provision_keys(mock_port: int) -> list[str]:
    """`gpt-4o` on the mock, and a fresh key on each of 100 funded accounts (key 0: the hot account's)."""
    os.environ["MOCK_URL"] = f"http://127.0.0.1:{mock_port}"
    from provision import provision  # reads MOCK_URL when imported

    keys = [provision({"gpt-4o": ("openai_responses", f"http://127.0.0.1:{mock_port}/v1")}, name="hotwallet")]
    for n in range(1, ACCOUNTS):
        email = f"hotwallet-{n:03d}@harnmodel.local"
        account = account_by_email(email=email) or account_create(email=email)
        wallet_credit(account_id=account.pk, amount_micros=parse_amount("1000000000"),
                      idempotency_key=f"hotwallet:{n}:funds", note="hot wallet bench", actor="bench")
        keys.append(api_key_create(account_id=account.pk, name="hotwallet").secret)
    return keys


class Waits(threading.Thread):
    """Samples this database's active backends (wait events) and lock waits every `every` seconds."""

    QUERY = """
        SELECT coalesce(a.wait_event_type, 'CPU') || ':' || coalesce(a.wait_event, 'running'),
               (SELECT l.locktype || ' on ' || coalesce(l.relation::regclass::text, '-') FROM pg_locks l
                WHERE l.pid = a.pid AND NOT l.granted LIMIT 1)
        FROM pg_stat_activity a
        WHERE a.datname = %s AND a.state = 'active' AND a.pid <> pg_backend_pid()
    """

    def __init__(self, database: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.database, self.every = database, every
        self.events: collections.Counter = collections.Counter()
        self.locks: collections.Counter = collections.Counter()
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        params = {k: v for k, v in connection.get_connection_params().items()
                  if k not in ("cursor_factory", "context", "prepare_threshold")}
        with psycopg.connect(**params, autocommit=True) as conn:
            while not self.halt.wait(self.every):
                rows = conn.execute(self.QUERY, (self.database,)).fetchall()
                self.samples += 1
                for event, lock in rows:
                    self.events[event] += 1
                    if lock:
                        self.locks[lock] += 1

    def result(self) -> dict:
        self.halt.set()
        self.join()
        per = max(self.samples, 1)
        return {"samples": self.samples,
                "active_backends_mean": round(sum(self.events.values()) / per, 2),
                "wait_events_mean": {k: round(v / per, 2) for k, v in self.events.most_common(8)},
                "lock_waits_mean": {k: round(v / per, 2) for k, v in self.locks.most_common(5)}}


GROWING = ("billing_usagerecord", "billing_ledgerentry", "billing_hold", "billing_receipt")


def table_sizes() -> dict[str, int]:
    """Bytes of every table of this database (heap, indexes, TOAST), and the rows of the ones that grow."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables")
        sizes = dict(cursor.fetchall())
        for table in GROWING:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our own table names)
            sizes[f"{table}.rows"] = cursor.fetchone()[0]
    return sizes


def compact(database: str) -> None:
    """VACUUM FULL the growing tables: their size is then live rows only (our own database; locks only it)."""
    connection.close()
    command = "VACUUM FULL ANALYZE " + ", ".join(GROWING)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qd", database, "-c", command], check=True)


def growth(before: dict[str, int], after: dict[str, int]) -> dict:
    """Bytes and rows per billed request (one usage record each) of the tables that grew."""
    requests = after["billing_usagerecord.rows"] - before["billing_usagerecord.rows"]
    grown = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    per = {name: round(delta / max(requests, 1), 2) for name, delta in sorted(grown.items(), key=lambda i: -i[1])}
    total = sum(delta for name, delta in grown.items() if not name.endswith(".rows"))
    return {"requests": requests, "per_request": per, "bytes_per_request": round(total / max(requests, 1), 1)}


def one_run(url: str, keys: list[str], args: argparse.Namespace, groups: dict, database: str) -> dict:
    waits = Waits(database)
    waits.start()
    row = wrkrun.measured(url, BODY, keys, args.concurrency, args.seconds, groups, warmup=2)
    row.update(waits.result())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=8191)
    parser.add_argument("--mock-port", type=int, default=18180)
    parser.add_argument("--json-out", default=str(ROOT / "bench" / "results" / f"hotwallet-{time.strftime('%Y%m%d-%H%M%S')}.json"))
    args = parser.parse_args()
    database = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    keys = provision_keys(args.mock_port)
    compact(database)
    before = table_sizes()
    wrkrun.start_mock(args.mock_port)
    try:
        gateway = wrkrun.start_gateway(args.port, args.workers, {})
        try:
            runs = measure(f"http://127.0.0.1:{args.port}/v1/responses", keys, args, gateway.pid, database)
        finally:
            wrkrun.stop(gateway)
    finally:
        wrkrun.stop_mock()
    summary = {shape: {name: statistics.median(run[name] for run in runs[shape])
                       for name in ("rps", "p50_ms", "p99_ms", "gateway_ms_per_req", "pg_ms_per_req",
                                    "active_backends_mean")}
               for shape in runs}
    summary["ratio_one_to_many"] = round(summary["one"]["rps"] / summary["many"]["rps"], 3)
    summary["growth_raw"] = growth(before, table_sizes())  # dead row versions (holds, wallets) included
    compact(database)
    summary["growth_live"] = growth(before, table_sizes())  # what stays: live rows and their index entries
    print(json.dumps(summary, indent=1))
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps({"command": sys.argv, "workers": args.workers,
                                               "concurrency": args.concurrency, "summary": summary, "runs": runs},
                                              indent=1) + "\n")
    print(f"JSON: {args.json_out}")


def measure(url: str, keys: list[str], args: argparse.Namespace, gateway_pid: int, database: str) -> dict:
    shapes = {"one": keys[:1], "many": keys}
    runs: dict[str, list[dict]] = {"one": [], "many": []}
    wrkrun.wrk(url, BODY, keys, args.concurrency, 3)  # warm-up: connections, caches, every key looked up
    pg = procstat.postgres_pids(database)
    groups = {"gateway": procstat.tree(gateway_pid), "pg": pg["backends"] + pg["aux"],
              "redis": wrkrun.pid_of("redis-server"), "nginx": wrkrun.mock_pids()}
    print("| run | accounts | req/s | statuses | p50 / p99 ms | gateway ms/req | PG ms/req | active backends |"
          " wait events (mean backends) | lock waits | load 1m |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rep in range(args.repeat):
        for shape in (("one", "many") if rep % 2 == 0 else ("many", "one")):
            row = one_run(url, shapes[shape], args, groups, database)
            runs[shape].append(row)
            print(f"| {rep + 1} | {len(shapes[shape])} | {row['rps']} | {row['statuses']} | {row['p50_ms']} / "
                  f"{row['p99_ms']} | {row['gateway_ms_per_req']} | {row['pg_ms_per_req']} | "
                  f"{row['active_backends_mean']} | {row['wait_events_mean']} | {row['lock_waits_mean']} | "
                  f"{row['load_before'][0]}→{row['load_after'][0]} |", flush=True)
    return runs


if __name__ == "__main__":
    main()
