"""Tables of one bench/run session: per-target detail, then ours / LiteLLM / Portkey side by side.

    python bench/report.py bench/results/session-STAMP.jsonl [--peers litellm,portkey]

Reads the harness's JSON lines (one object per run, `side` mock or target), takes medians over the
repeats, prints the tables and writes the side-by-side numbers to session-STAMP-summary.jsonl.
Stdlib only.
"""

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

GATEWAYS = {"ours": "harnmodel-responses", "litellm": "litellm", "portkey": "portkey"}
TTFT_LABELS = {"ours": "harnmodel-ttft", "litellm": "litellm-ttft", "portkey": "portkey-ttft"}
TITLES = {"ours": "ours", "litellm": "LiteLLM", "portkey": "Portkey"}
LATENCIES = {"p50", "p90", "p99", "ttft_p50", "ttft_p99", "ttfe_p50"}
Key = tuple[str, bool, int, str]  # label, stream, concurrency, side


def load(path: Path) -> dict[Key, list[dict]]:
    runs: dict[Key, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if "side" in row:
            runs[(row["label"], row["stream"], row["concurrency"], row["side"])].append(row)
    return runs


def med(rows: list[dict], field: str) -> float | None:
    # a run that finished no request has throughput 0 but no latency at all
    timed = field in LATENCIES
    values = [r[field] for r in rows if r.get(field) is not None and not (timed and not r.get("requests"))]
    return statistics.median(values) if values else None


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def cell(value: float | None, digits: int = 1, width: int = 9) -> str:
    if value is None:
        return "n/a".rjust(width)
    return f"{value:,.{digits}f}".rjust(width)


def labels_in(runs: dict[Key, list[dict]]) -> list[str]:
    return list(dict.fromkeys(key[0] for key in runs))


def detail(runs: dict[Key, list[dict]], label: str) -> None:
    ttft = label.endswith("-ttft")
    print(f"\n== {label}: medians over repeats (n); latency ms; + = {label} minus mock direct, same C")
    head = f"{'stream':>6}{'C':>4}{'n':>3}{'mock/s':>10}{'req/s':>10}{'p50':>10}{'p99':>10}{'+p50':>10}{'+p99':>10}"
    head += f"{'TTFT50':>8}{'TTFT99':>8}{'+TTFT50':>8}{'+TTFT99':>8}{'+event50':>9}" if ttft else ""
    print(head + f"{'err':>5}{'CPU%':>6}{'RSS MB':>8}{'mach%':>6}")
    points = sorted({(k[1], k[2]) for k in runs if k[0] == label})
    for stream, conc in points:
        target, mock = runs.get((label, stream, conc, "target"), []), runs.get((label, stream, conc, "mock"), [])
        line = (f"{'on' if stream else 'off':>6}{conc:>4}{len(target):>3}{cell(med(mock, 'rps'), 0, 10)}"
                f"{cell(med(target, 'rps'), 1, 10)}{cell(med(target, 'p50'), 2, 10)}{cell(med(target, 'p99'), 2, 10)}"
                f"{cell(diff(med(target, 'p50'), med(mock, 'p50')), 2, 10)}"
                f"{cell(diff(med(target, 'p99'), med(mock, 'p99')), 2, 10)}")
        if ttft:
            line += (f"{cell(med(target, 'ttft_p50'), 2, 8)}{cell(med(target, 'ttft_p99'), 2, 8)}"
                     f"{cell(diff(med(target, 'ttft_p50'), med(mock, 'ttft_p50')), 2, 8)}"
                     f"{cell(diff(med(target, 'ttft_p99'), med(mock, 'ttft_p99')), 2, 8)}"
                     f"{cell(diff(med(target, 'ttfe_p50'), med(mock, 'ttfe_p50')), 2, 9)}")
        print(line + f"{sum(r['errors'] for r in target):>5}{cell(med(target, 'cpu_pct'), 0, 6)}"
              f"{cell(med(target, 'rss_mib'), 0, 8)}{cell(med(target, 'machine_busy_pct'), 0, 6)}")


def metrics(runs: dict[Key, list[dict]], gateway: str, concs: list[int]) -> dict[str, float | None]:
    label, ttft = GATEWAYS[gateway], TTFT_LABELS[gateway]
    out: dict[str, float | None] = {}

    def both(lab: str, stream: bool, conc: int) -> tuple[list[dict], list[dict]]:
        return runs.get((lab, stream, conc, "target"), []), runs.get((lab, stream, conc, "mock"), [])

    for conc in concs:
        out[f"req/s non-stream C={conc}"] = med(both(label, False, conc)[0], "rps")
    for conc in concs:
        out[f"streams/s C={conc}"] = med(both(label, True, conc)[0], "rps")
    low = min(concs)
    for stream, name in ((False, "non-stream"), (True, "stream, whole")):
        target, mock = both(label, stream, low)
        for p in ("p50", "p99"):
            out[f"added {p} ms {name} C={low}"] = diff(med(target, p), med(mock, p))
    ttft_conc = min((k[2] for k in runs if k[0] == ttft), default=None)
    target, mock = both(ttft, True, ttft_conc) if ttft_conc is not None else ([], [])
    for p in ("p50", "p99"):
        out[f"TTFT added {p} ms C={ttft_conc or 1}"] = diff(med(target, f"ttft_{p}"), med(mock, f"ttft_{p}"))
    out[f"first event added p50 ms C={ttft_conc or 1}"] = diff(med(target, "ttfe_p50"), med(mock, "ttfe_p50"))
    high = max(concs)
    out[f"CPU % non-stream C={high}"] = med(both(label, False, high)[0], "cpu_pct")
    loaded = [r for k, rows in runs.items() if k[0] == label and k[3] == "target" for r in rows]
    out["RSS MB after load (max)"] = max((r["rss_mib"] for r in loaded if r.get("rss_mib")), default=None)
    return out


def ratio(ours: float | None, peer: float | None) -> str:
    if ours is None or peer is None or ours <= 0 or peer <= 0:
        return "n/a".rjust(10)
    return f"{ours / peer:,.2f}×".rjust(10)


def side_by_side(runs: dict[Key, list[dict]], peers: list[str], stamp: str, out_path: Path) -> None:
    concs = sorted({k[2] for k in runs if k[0] == GATEWAYS["ours"]}) or [1, 16, 64]
    gateways = ["ours", *peers]
    table = {gw: metrics(runs, gw, concs) for gw in gateways}
    print("\n== /v1/responses, one process each, nginx mock, same session; medians over repeats")
    head = f"{'':<34}" + "".join(f"{TITLES[g]:>10}" for g in gateways)
    head += "".join(f"{'ours÷' + TITLES[p]:>16}" for p in peers)
    print(head)
    for name in table["ours"]:
        if all(table[g][name] is None for g in gateways):
            continue  # a suite this session did not run
        digits = 0 if name.startswith(("req/s", "streams/s", "CPU", "RSS")) else 2
        line = f"{name:<34}" + "".join(cell(table[g][name], digits, 10) for g in gateways)
        line += "".join(ratio(table["ours"][name], table[p][name]).rjust(16) for p in peers)
        print(line)
    if peers:
        print("ours÷peer: throughput > 1 = ours faster; added latency and RSS < 1 = ours adds less / uses less")
    with out_path.open("a") as f:
        for gw in gateways:
            f.write(json.dumps({"kind": "summary", "session": stamp, "gateway": gw, **table[gw]}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--peers", default="", help="comma list of litellm,portkey (n/a when they have no runs)")
    args = parser.parse_args()
    runs = load(args.jsonl) if args.jsonl.exists() else {}
    for label in labels_in(runs):
        detail(runs, label)
    peers = [p for p in args.peers.split(",") if p in GATEWAYS and p != "ours"]
    stamp = args.jsonl.stem.removeprefix("session-")
    side_by_side(runs, peers, stamp, args.jsonl.with_name(f"{args.jsonl.stem}-summary.jsonl"))


if __name__ == "__main__":
    main()
