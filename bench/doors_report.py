"""Tables of a door benchmark session (bench/doors.py) and a summary of py-spy profiles. Stdlib only.

    python bench/doors_report.py bench/results/doors-STAMP.jsonl [--tolerance 0.10]
    python bench/doors_report.py --profile PROFILE.txt [--top 25]   # py-spy `--format raw` (collapsed stacks)

Each run is one JSON line {door, stream, concurrency, rps, p50, p99, requests, errors, cpu_ms_per_req, ...}.
Every door is compared with the `/v1/responses` passthrough (door "responses") at the same stream mode and
concurrency: req/s ratio, added p50 and CPU-per-request ratio; "ok" when its median req/s is at least
(1 - tolerance) of the passthrough's. Runs of the paired mode (`bench/doors.py --pairs N`) carry `round`:
each round ran the doors in a mirrored order (base, d1, d2, d2, d1, base), so `paired` gives every door one
ratio per round — its two runs' req/s over the passthrough's two in that round, a drift of the machine that
is linear over the round cancelling out — and judges the median of those ratios.
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

BASE = "responses"
DOORS = ("responses", "chat", "messages", "gemini")
CHANNELS = {"responses": "openai_responses", "chat": "openai_chat", "messages": "anthropic", "gemini": "gemini"}
FIELDS = ("rps", "p50", "p99", "cpu_ms_per_req", "errors", "load1")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def medians(runs: list[dict]) -> dict[tuple[str, bool, int], dict]:
    """(door, stream, concurrency) → the median of every field over its repeats, and n."""
    grouped: dict[tuple[str, bool, int], list[dict]] = defaultdict(list)
    for run in runs:
        grouped[(run["door"], run["stream"], run["concurrency"])].append(run)
    out = {}
    for key, rows in grouped.items():
        # a run that finished no request has no latency: only its throughput (0) counts
        timed = [r for r in rows if r.get("requests")]
        point = {"n": len(rows)}
        for field in FIELDS:
            source = rows if field in ("rps", "errors", "load1") else timed
            values = [r[field] for r in source if r.get(field) is not None]
            point[field] = statistics.median(values) if values else None
        out[key] = point
    return out


def compare(points: dict[tuple[str, bool, int], dict], tolerance: float) -> list[dict]:
    """One row per point with its ratio to the Responses passthrough at the same stream mode and concurrency."""
    rows = []
    order = {door: i for i, door in enumerate(DOORS)}
    for (door, stream, conc), point in sorted(points.items(), key=lambda kv: (kv[0][1], kv[0][2],
                                                                               order.get(kv[0][0], 99), kv[0][0])):
        base = points.get((BASE, stream, conc))
        ratio = added = cpu_ratio = None
        if base and base["rps"] and point["rps"] is not None:
            ratio = point["rps"] / base["rps"]
        if base and base["cpu_ms_per_req"] and point["cpu_ms_per_req"] is not None:
            # CPU per request barely moves with the machine's load, unlike req/s: the steadier comparison
            cpu_ratio = point["cpu_ms_per_req"] / base["cpu_ms_per_req"]
        if base and base["p50"] is not None and point["p50"] is not None:
            added = point["p50"] - base["p50"]
        verdict = "base" if door == BASE else ("n/a" if ratio is None else ("ok" if ratio >= 1 - tolerance else "SLOW"))
        rows.append({"door": door, "stream": stream, "concurrency": conc, **point, "ratio": ratio,
                     "added_p50": added, "cpu_ratio": cpu_ratio, "verdict": verdict})
    return rows


def paired(runs: list[dict], tolerance: float) -> list[dict]:
    """Per (door, stream, concurrency): the ratio to the passthrough in each round of the paired mode (req/s;
    and CPU per request, weighted by requests), their medians and the req/s range, and the verdict on the
    req/s median."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        if "round" in run:
            cells[(run["door"], run["stream"], run["concurrency"], run["round"])].append(run)
    ratios: dict[tuple, list[tuple[float, float | None]]] = defaultdict(list)
    for (door, stream, conc, rnd), rows in cells.items():
        base = cells.get((BASE, stream, conc, rnd))
        base_rps = sum(r["rps"] for r in base) if base else 0
        if door != BASE and base_rps and len(rows) == len(base):
            base_cpu, cpu = _cpu_per_request(base), _cpu_per_request(rows)
            ratios[(door, stream, conc)].append((sum(r["rps"] for r in rows) / base_rps,
                                                 cpu / base_cpu if cpu is not None and base_cpu else None))
    order = {door: i for i, door in enumerate(DOORS)}
    out = []
    for (door, stream, conc), pairs in sorted(ratios.items(), key=lambda kv: (kv[0][1], kv[0][2],
                                                                              order.get(kv[0][0], 99))):
        values = [rps for rps, _ in pairs]
        cpus = [cpu for _, cpu in pairs if cpu is not None]
        mid = statistics.median(values)
        out.append({"door": door, "stream": stream, "concurrency": conc, "rounds": len(values), "median": mid,
                    "low": min(values), "high": max(values), "cpu": statistics.median(cpus) if cpus else None,
                    "verdict": "ok" if mid >= 1 - tolerance else "SLOW"})
    return out


def _cpu_per_request(rows: list[dict]) -> float | None:
    requests = sum(r.get("requests") or 0 for r in rows)
    if not requests or any(r.get("cpu_ms_per_req") is None for r in rows):
        return None
    return sum(r["cpu_ms_per_req"] * (r.get("requests") or 0) for r in rows) / requests


def paired_table(rows: list[dict], tolerance: float) -> str:
    lines = ["| door → channel | stream | C | rounds | paired req/s ratio, median | lowest – highest round "
             f"| paired CPU/request ratio, median | within {tolerance:.0%} |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['door']} → {CHANNELS.get(r['door'], '?')} | {'on' if r['stream'] else 'off'} "
                     f"| {r['concurrency']} | {r['rounds']} | {r['median']:.2f} | {r['low']:.2f} – {r['high']:.2f} "
                     f"| {_num(r['cpu'], 2)} | {r['verdict']} |")
    return "\n".join(lines)


def load_line(runs: list[dict]) -> str:
    """The machine's 1-min load average over the runs: on a shared 2-core box it says how far to trust req/s."""
    loads = sorted(r["load1"] for r in runs if r.get("load1") is not None)
    if not loads:
        return "load average: not recorded"
    return f"1-min load average during the runs: median {statistics.median(loads):.2f} (min {loads[0]:.2f}, max {loads[-1]:.2f})"


def _num(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: list[dict], tolerance: float) -> str:
    """A Markdown table: the same text goes to the terminal and into a note."""
    lines = [f"| door → channel | stream | C | n | req/s | × responses | p50 ms | +p50 ms | p99 ms "
             f"| CPU ms/req | CPU × responses | err | within {tolerance:.0%} |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['door']} → {CHANNELS.get(r['door'], '?')} | {'on' if r['stream'] else 'off'} "
                     f"| {r['concurrency']} | {r['n']} | {_num(r['rps'])} | {_num(r['ratio'], 2)} | {_num(r['p50'], 2)} "
                     f"| {_num(r['added_p50'], 2)} | {_num(r['p99'], 2)} | {_num(r['cpu_ms_per_req'], 2)} "
                     f"| {_num(r['cpu_ratio'], 2)} | {_num(r['errors'], 0)} | {r['verdict']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ py-spy profiles
def read_stacks(text: str) -> list[tuple[list[str], int]]:
    """py-spy `--format raw` lines: `frame;frame;...;leaf COUNT` (root first)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def inclusive(stacks: list[tuple[list[str], int]], needle: str) -> float:
    """Share of samples with a frame containing `needle` anywhere on the stack (each sample counted once)."""
    total = sum(count for _, count in stacks)
    hit = sum(count for frames, count in stacks if any(needle in frame for frame in frames))
    return hit / total if total else 0.0


def top_self(stacks: list[tuple[list[str], int]], n: int) -> list[tuple[str, float]]:
    """The leaf frames with the most samples, as shares of all samples."""
    total = sum(count for _, count in stacks) or 1
    leaves: dict[str, int] = defaultdict(int)
    for frames, count in stacks:
        leaves[frames[-1]] += count
    return [(frame, count / total) for frame, count in sorted(leaves.items(), key=lambda kv: -kv[1])[:n]]


# where the time of a request goes; a frame name from py-spy reads `function (path/module.py:line)`
AREAS = {
    "door serving (relay/door_handle.py)": "door_handle.py",
    "relay job (relay/job.py)": "gateway/relay/job.py",
    "admission (relay/admit.py)": "gateway/relay/admit.py",
    "protocols: doors and channels (gateway/protocols/)": "gateway/protocols/",
    "settlement + usage (billing/)": "billing/",
    "upstream HTTP client (httpx/httpcore)": "httpcore",
    "JSON (json/orjson)": "json",
    "database (psycopg)": "psycopg",
    "redis": "redis",
}


def profile_summary(text: str, top: int = 20) -> str:
    stacks = read_stacks(text)
    lines = [f"samples: {sum(c for _, c in stacks)}", "inclusive share by area (overlapping):"]
    lines += [f"  {inclusive(stacks, needle):6.1%}  {area}" for area, needle in AREAS.items()]
    lines.append(f"top {top} leaf frames (self time):")
    lines += [f"  {share:6.1%}  {frame}" for frame, share in top_self(stacks, top)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?", type=Path)
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--profile", type=Path, action="append", help="py-spy raw profile to summarise (repeatable)")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    if not a.results and not a.profile:
        sys.exit("give a results file or --profile")
    if a.results:
        runs = load(a.results)
        print(table(compare(medians(runs), a.tolerance), a.tolerance))
        if any("round" in run for run in runs):
            print()
            print(paired_table(paired(runs, a.tolerance), a.tolerance))
        print(load_line(runs))
    for profile in a.profile or []:
        print(f"\n== {profile.name}\n{profile_summary(profile.read_text(), a.top)}")


if __name__ == "__main__":
    main()
