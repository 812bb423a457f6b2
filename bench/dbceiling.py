"""The database ceiling: the gateway's hold and settle statements alone against PostgreSQL.

    DATABASE_URL=postgres://…/harnmodel_x python bench/dbceiling.py [--duration 8] [--concurrency 1,4,16]

Runs `billing.holds.reserve()` then `settle()` (the async entry points the gateway calls; on PostgreSQL
the single statements of billing/holds/sql.py on the event loop's psycopg connections, aio.py) in a
closed loop on C connections, against one funded account or 100 (each pair takes the next account),
for --duration seconds per point after a 1 s warm-up. No HTTP, no upstream: the database's share of a
request. Prints pairs/s, statements/s (2 per pair), mean latency of each statement, PostgreSQL's CPU
per pair (its backends for this database plus the WAL writer, bgwriter and checkpointer, from /proc),
this client's CPU per pair, and the load average; --json-out writes them (default bench/results/).
Every pair must come back from the statements themselves: a fallback to the locked path is counted.
"""

import argparse
import asyncio
import json
import os
import statistics
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
from django.conf import settings  # noqa: E402

from accounts.selectors import account_by_email  # noqa: E402
from accounts.services import account_create  # noqa: E402
from billing import holds  # noqa: E402
from billing.holds import aio  # noqa: E402
from billing.money import parse_amount  # noqa: E402
from billing.pricing import PriceSnapshot, Usage  # noqa: E402
from billing.services import wallet_credit  # noqa: E402

PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
USAGE = Usage(input_tokens=20, output_tokens=50)  # the shared mock's answer: 20 in, 50 out


def funded_accounts(count: int) -> list[int]:
    """`count` accounts with ample funds (created once, reused by later runs)."""
    ids = []
    for n in range(count):
        email = f"dbceiling-{n:03d}@harnmodel.local"
        account = account_by_email(email=email) or account_create(email=email)
        wallet_credit(account_id=account.pk, amount_micros=parse_amount("1000000000"),
                      idempotency_key=f"dbceiling:{n}:funds", note="dbceiling funds", actor="bench")
        ids.append(account.pk)
    return ids


_locked_calls = 0
_run_db = holds.run_db


async def _counting_run_db(fn, *args, **kwargs):
    """holds.run_db is only reached when a statement could not decide alone (the locked path)."""
    global _locked_calls
    _locked_calls += 1
    return await _run_db(fn, *args, **kwargs)


holds.run_db = _counting_run_db


class Point:
    """One closed-loop run: C tasks, each hold → settle → next account, until told to stop."""

    def __init__(self, accounts: list[int], concurrency: int) -> None:
        self.accounts, self.concurrency = accounts, concurrency
        self.pairs = self.fallbacks = 0
        self.reserve_s = self.settle_s = 0.0
        self.counting = self.running = True
        self.sequence = 0

    async def one(self, task: int) -> None:
        while self.running:
            self.sequence += 1
            rid = f"dbc-{os.getpid()}-{task}-{self.sequence}-{time.monotonic_ns()}"
            account_id = self.accounts[self.sequence % len(self.accounts)]
            t0 = time.perf_counter()
            reservation = await holds.reserve(account_id=account_id, request_id=rid, input_tokens=20,
                                              max_output_tokens=1000, price=PRICE, ttl_seconds=600)
            t1 = time.perf_counter()
            facts = holds.RequestFacts(account_id=account_id, model_id="gpt-4o", upstream_model="gpt-4o")
            settlement = await holds.settle(request_id=rid, usage=USAGE, price=PRICE, facts=facts)
            assert reservation.amount_micros > 0 and settlement.cost_micros > 0
            t2 = time.perf_counter()
            if self.counting:
                self.pairs += 1
                self.reserve_s += t1 - t0
                self.settle_s += t2 - t1

    async def run(self, duration: float, database: str) -> dict:
        tasks = [asyncio.create_task(self.one(n)) for n in range(self.concurrency)]
        self.counting = False
        await asyncio.sleep(1.0)  # warm-up: connections opened, statements prepared
        pg = procstat.postgres_pids(database)
        sampler = procstat.Sampler({"pg_backends": pg["backends"], "pg_aux": pg["aux"], "client": [os.getpid()]})
        load_before = procstat.loadavg()
        self.counting = True
        locked_before = _locked_calls
        wal_before = procstat.wal_bytes()
        sampler.start()
        started = time.perf_counter()
        await asyncio.sleep(duration)
        self.counting = False
        elapsed = time.perf_counter() - started
        cpu = sampler.stop()
        wal = procstat.wal_bytes() - wal_before
        self.fallbacks += _locked_calls - locked_before
        self.running = False
        await asyncio.gather(*tasks)
        pairs = max(self.pairs, 1)
        pg_cpu = cpu["pg_backends"] + cpu["pg_aux"]
        return {
            "accounts": len(self.accounts), "concurrency": self.concurrency, "seconds": round(elapsed, 2),
            "pairs": self.pairs, "pairs_per_s": round(self.pairs / elapsed, 1),
            "statements_per_s": round(2 * self.pairs / elapsed, 1),
            "reserve_ms": round(1000 * self.reserve_s / pairs, 3), "settle_ms": round(1000 * self.settle_s / pairs, 3),
            "pg_cpu_ms_per_pair": round(1000 * pg_cpu / pairs, 3),
            "pg_backend_cpu_ms_per_pair": round(1000 * cpu["pg_backends"] / pairs, 3),
            "pg_cores": round(pg_cpu / elapsed, 2), "client_cpu_ms_per_pair": round(1000 * cpu["client"] / pairs, 3),
            "machine_cores": round(cpu["machine"] / elapsed, 2), "fallbacks": self.fallbacks,
            "wal_bytes_per_pair": round(wal / pairs),  # cluster-wide: other databases' writes count too
            "pg_backend_pids": len(pg["backends"]), "load_before": load_before, "load_after": procstat.loadavg(),
        }


async def close_pool() -> None:
    pool = aio.current_pool()
    while pool.idle:
        await pool.idle.pop().close()


async def main(args: argparse.Namespace) -> list[dict]:
    database = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    every = await asyncio.to_thread(funded_accounts, 100)
    rows = []
    for rep in range(args.repeat):  # repeats outermost: the shared machine's drift hits every point alike
        for concurrency in args.concurrency:
            for accounts in (every[:1], every) if rep % 2 == 0 else (every, every[:1]):
                settings.HARNMODEL_DB_ASYNC_CONNECTIONS = concurrency
                await close_pool()
                aio._pool = None  # a fresh pool of `concurrency` connections for this point
                rows.append({"repeat": rep + 1, **await Point(accounts, concurrency).run(args.duration, database)})
                print_row(rows[-1])
    await close_pool()
    return rows


def medians(rows: list[dict]) -> list[dict]:
    """Per (C, accounts): the median of every number over the repeats, and the 1-min load range."""
    points: dict[tuple[int, int], list[dict]] = {}
    for row in rows:
        points.setdefault((row["concurrency"], row["accounts"]), []).append(row)
    out = []
    for (concurrency, accounts), runs in sorted(points.items()):
        numbers = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and k != "repeat"]
        median = {k: round(statistics.median(run[k] for run in runs), 3) for k in numbers}
        loads = [run["load_before"][0] for run in runs] + [run["load_after"][0] for run in runs]
        out.append({**median, "concurrency": concurrency, "accounts": accounts, "repeats": len(runs),
                    "load_before": (min(loads),), "load_after": (max(loads),)})
    return out


HEADER = ("C", "accts", "pairs/s", "stmts/s", "reserve ms", "settle ms", "PG ms/pair", "PG cores",
          "client ms/pair", "WAL B/pair", "machine cores", "fallbk", "load 1m before→after")


def print_row(row: dict) -> None:
    if row is None:
        print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
        return
    cells = (row["concurrency"], row["accounts"], row["pairs_per_s"], row["statements_per_s"], row["reserve_ms"],
             row["settle_ms"], row["pg_cpu_ms_per_pair"], row["pg_cores"], row["client_cpu_ms_per_pair"],
             row["wal_bytes_per_pair"], row["machine_cores"], row["fallbacks"], f"{row['load_before'][0]}→{row['load_after'][0]}")
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 4, 16])
    parser.add_argument("--json-out", default=str(ROOT / "bench" / "results" / f"dbceiling-{time.strftime('%Y%m%d-%H%M%S')}.json"))
    arguments = parser.parse_args()
    if not aio.enabled():
        sys.exit("needs PostgreSQL (DATABASE_URL) and HARNMODEL_DB_ASYNC on: the statements under test are PostgreSQL's")
    print_row(None)
    results = asyncio.run(main(arguments))
    summary = medians(results)
    if arguments.repeat > 1:
        print(f"medians of {arguments.repeat} repeats (load: lowest→highest seen):")
        print_row(None)
        for row in summary:
            print_row(row)
    Path(arguments.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(arguments.json_out).write_text(json.dumps({"command": sys.argv, "medians": summary, "points": results}, indent=1) + "\n")
    print(f"JSON: {arguments.json_out}")
