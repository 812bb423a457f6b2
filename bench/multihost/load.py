"""A load run across the hosts: wrk through HAProxy, then who answered how much and whether the money is exact.

req/s and latency from wrk; per host, the requests HAProxy sent it (its stats socket) and the requests the
host itself counted (its /metrics, harnmodel_requests_total); the load customer's usage records; and the
same money assertions as the other checks once the requests wrk left in flight have settled.

usage: load.py --state state.json --lb http://127.0.0.1:18200 --hosts h1=http://10.77.0.11:8000,...
               --stats haproxy.sock --duration 10 --conc 32 --out load.json
"""

import argparse
import json
import re
import subprocess
import tempfile
import urllib.request

import djangoenv  # noqa: F401
import haproxy_stats
import money
import outcome
import request
from revoke import hosts_arg

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '%s'
"""


def host_count(base: str) -> int:
    """Requests this host answered 200 for the rig's model, by its own counter."""
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    model = re.escape(f'model="{request.MODEL}"')
    pattern = re.compile(r'^harnmodel_requests_total\{[^}]*' + model + r'[^}]*status="200"[^}]*\} (\S+)$')
    return sum(int(float(m.group(1))) for line in text.splitlines() if (m := pattern.match(line)))


def wrk(lb: str, key: str, duration: int, conc: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % (key, request.body().decode()))
        script.flush()
        out = subprocess.run(["wrk", "-t", "2", "-c", str(conc), "-d", f"{duration}s", "--latency", "-s", script.name,
                              lb + "/v1/responses"], capture_output=True, text=True, check=True).stdout
    number = lambda pattern: re.search(pattern, out)  # noqa: E731
    latency = {p: number(rf"\s{p}%\s+(\S+)") for p in ("50", "99")}
    return {
        "requests": int(number(r"(\d+) requests in")[1]),
        "req_per_s": float(number(r"Requests/sec:\s+(\S+)")[1]),
        "non_2xx": int(m[1]) if (m := number(r"Non-2xx or 3xx responses: (\d+)")) else 0,
        "socket_errors": number(r"Socket errors: (.*)")[1] if number(r"Socket errors") else "",
        "p50": latency["50"][1] if latency["50"] else None,
        "p99": latency["99"][1] if latency["99"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--lb", required=True)
    parser.add_argument("--hosts", type=hosts_arg, required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--conc", type=int, default=32)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = json.load(open(args.state))
    customer, cost = state["customers"]["load"], state["cost_micros"]
    before, counted_before = haproxy_stats.read(args.stats), {n: host_count(b) for n, b in args.hosts.items()}
    measured = wrk(args.lb, customer["key"], args.duration, args.conc)
    per_server = haproxy_stats.delta(before, haproxy_stats.read(args.stats))
    now = money.wait_settled(customer["account_id"], timeout=30)
    counted = {n: host_count(b) - counted_before[n] for n, b in args.hosts.items()}
    unseen = sum(counted.values()) - sum(s["hrsp_2xx"] for s in per_server.values())
    usage_ok = now["usage_records"]
    checks = {
        "no_errors": measured["non_2xx"] == 0 and not measured["socket_errors"],
        "every_host_served": all(counted[n] > 0 for n in args.hosts),
        # wrk stops with up to CONC requests in flight: the hosts finish them, HAProxy no longer passes them on.
        "hosts_counted_what_haproxy_sent": 0 <= unseen <= args.conc,
        "usage_records_cover_wrk": measured["requests"] <= usage_ok <= measured["requests"] + args.conc,
        "usage_records_are_the_hosts_counts": usage_ok == sum(counted.values()),
        **money.exact(now, answered=[], cost=cost, funds=customer["funds"]),
    }
    result = {"check": "load", "duration_s": args.duration, "concurrency": args.conc, **measured,
              "per_host_haproxy_2xx": {n: s["hrsp_2xx"] for n, s in per_server.items()},
              "per_host_counted": counted,
              # a host whose health check timed out under load was out of the rotation for a while
              "per_host_marked_down": {n: s["chkdown"] for n, s in per_server.items()},
              "finished_after_wrk_stopped": unseen, "usage_records": usage_ok,
              "money": money.public(now)}
    print(f"load: {measured['req_per_s']:.0f} req/s through HAProxy at C={args.conc} for {args.duration} s "
          f"(p50 {measured['p50']}, p99 {measured['p99']}); per host (HAProxy / own count): "
          + ", ".join(f"{n} {per_server[n]['hrsp_2xx']}/{counted[n]}" for n in args.hosts)
          + f"; {usage_ok} usage records, {now['charges']} charges, balance = Σ ledger: "
          + str(now["balance_micros"] == now["ledger_sum_micros"]))
    outcome.conclude(result, checks, args.out)


if __name__ == "__main__":
    main()
