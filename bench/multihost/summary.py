"""Gather the checks' results into one JSON line (bench/results/multihost-<stamp>.jsonl), print the summary,
and exit non-zero unless every check ran and held.

usage: summary.py --results DIR --out bench/results/multihost-STAMP.jsonl --hosts 3 [--checks load,burst,...]
"""

import argparse
import json
import time
from pathlib import Path

CHECKS = ("load", "burst", "revoke", "breaker", "kill")


def line(name: str, r: dict) -> str:
    if name == "load":
        return (f"{r['req_per_s']:.0f} req/s at C={r['concurrency']} (p50 {r['p50']}, p99 {r['p99']}); "
                f"200s per host {r['per_host_haproxy_2xx']}, marked down {r['per_host_marked_down']}")
    if name == "burst":
        m = r["money"]
        return (f"{r['requests']} at once for a balance of {r['afford']}: {r['served']} served "
                f"{r['served_by_host']}, {r['refused_402']} × 402; balance {m['balance_micros']}, "
                f"Σ ledger {m['ledger_sum_micros']}, open holds {m['open_holds']}")
    if name == "revoke":
        return "first 401 after " + ", ".join(f"{h} {p['refused_after_s']} s" for h, p in r["hosts"].items())
    if name == "breaker":
        return (f"opened after {r['failures_before_open']} failures on {r['trip_host']}; seen open after "
                + ", ".join(f"{h} {t} s" for h, t in r["seen_open_after_s"].items()))
    m = r["money"]
    return (f"{r['victim']} killed mid-load: {r['served']} × 200 of {r['requests']}, {r['cut_in_flight']} cut in "
            f"flight + {r['failed_after_kill']} sent before HAProxy noticed, "
            f"{r['holds_released_by_sweeper']} holds swept; {m['charges']} charges "
            f"({r['charged_without_200']} without a 200), balance = Σ ledger: "
            f"{m['balance_micros'] == m['ledger_sum_micros']}, open holds {m['open_holds']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--checks", default=",".join(CHECKS))
    args = parser.parse_args()
    wanted = args.checks.split(",")
    found = {name: json.loads((args.results / f"{name}.json").read_text())
             for name in wanted if (args.results / f"{name}.json").exists()}
    record = {"bench": "multihost", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hosts": args.hosts,
              "ok": all(name in found and found[name]["ok"] for name in wanted), **found}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as out:
        out.write(json.dumps(record, default=str) + "\n")
    print(f"\n== Many hosts, one truth: {args.hosts} hosts behind HAProxy, one PostgreSQL, one Redis ==")
    for name in wanted:
        if name not in found:
            print(f"  {name:8} MISSING (did not run to the end)")
            continue
        r = found[name]
        failed = [k for k, held in r["checks"].items() if not held]
        print(f"  {name:8} {'ok' if r['ok'] else 'FAILED ' + ', '.join(failed):8} {line(name, r)}")
    print(f"  -> {args.out}")
    raise SystemExit(0 if record["ok"] else 1)


if __name__ == "__main__":
    main()
