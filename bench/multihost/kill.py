"""Killing one host mid-load loses no charge.

CONC clients send requests one after another for DURATION seconds through the load balancer: half to the
slow model (its answer trickles for two seconds, so the victim has requests in flight at every moment, their
holds open), half to the plain one (hundreds a second, so the kill can also land between a settlement and
its answer). At KILL_AT the victim's uvicorn gets SIGKILL. Its in-flight requests die with it: their clients
get an error from HAProxy and their holds stay open until they expire (or, settled just before the kill, they
are charged without their answer). After the hold TTL has passed the sweeper's own function
(billing.services.holds_expire) releases them, and then money.py's assertions must hold: every 200 charged
exactly once, no open hold, Σ ledger = balance, usage records = charges.

usage: kill.py --state state.json --lb http://127.0.0.1:18200 --victim h2 --pid 1234 --ttl 15 --out kill.json
"""

import argparse
import asyncio
import json
import os
import signal
import time
from collections import Counter

import client
import djangoenv  # noqa: F401
import haproxy_stats
import money
import outcome
import request

from billing.services import holds_expire


async def closed_loop(http, lb: str, key: str, model: str, stop_at: float, answers: list) -> None:
    while time.time() < stop_at:
        answers.append(await client.post(http, lb, "/v1/responses", key, request.body(model)))


async def run(lb: str, key: str, conc: int, duration: float, kill_at: float, pid: int) -> tuple[list, float]:
    answers: list[client.Answer] = []
    async with client.session() as http:
        stop_at = time.time() + duration
        models = (request.SLOW_MODEL, request.MODEL)
        loops = [asyncio.create_task(closed_loop(http, lb, key, models[n % 2], stop_at, answers)) for n in range(conc)]
        await asyncio.sleep(kill_at)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        await asyncio.gather(*loops)
    return answers, killed_at


def sweep_after(deadline: float) -> int:
    """Wait until every hold the victim left has expired, then release them as the periodic sweeper does."""
    time.sleep(max(0.0, deadline - time.time()))
    released = total = holds_expire()
    while released:  # it works in batches
        released = holds_expire()
        total += released
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--lb", required=True)
    parser.add_argument("--victim", required=True, help="its HAProxy server name")
    parser.add_argument("--pid", type=int, required=True, help="its uvicorn")
    parser.add_argument("--stats", required=True, help="HAProxy's stats socket")
    parser.add_argument("--conc", type=int, default=32)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--kill-at", type=float, default=5.0)
    parser.add_argument("--ttl", type=float, required=True, help="HARNMODEL_HOLD_TTL_SECONDS of the hosts")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = json.load(open(args.state))
    customer, cost = state["customers"]["kill"], state["cost_micros"]
    answers, killed_at = asyncio.run(run(args.lb, customer["key"], args.conc, args.duration, args.kill_at, args.pid))
    victim_status = haproxy_stats.read(args.stats)[args.victim]["status"]
    ok = [a for a in answers if a.status == 200]
    failed = [a for a in answers if a.status != 200]
    cut = [a for a in failed if a.started <= killed_at]  # in flight when it died; the rest were sent after
    # Sent after the kill, before HAProxy's health check took the victim out (on a pooled connection to it).
    late = [a for a in failed if a.started > killed_at and a.started < killed_at + 2]
    swept = sweep_after(killed_at + args.ttl + 1)
    now = money.wait_settled(customer["account_id"], timeout=5)
    answered = {a.request_id for a in ok}
    charged_unanswered = sorted({rid for rid, _ in now["_charges"]} - answered)
    checks = {
        "some_requests_cut_by_the_kill": bool(cut),
        "victim_taken_out_of_rotation": victim_status.startswith("DOWN"),
        "every_200_has_a_request_id": all(a.request_id for a in ok),
        **money.exact(now, answered=list(answered), cost=cost, funds=customer["funds"]),
        # A request the victim settled but could not answer is charged without a 200: at most those in flight.
        "charged_without_200_only_in_flight": len(charged_unanswered) <= len(cut),
        "failures_only_around_the_kill": len(failed) == len(cut) + len(late),
    }
    result = {
        "check": "kill", "victim": args.victim, "concurrency": args.conc, "duration_s": args.duration,
        "killed_after_s": args.kill_at, "hold_ttl_s": args.ttl, "requests": len(answers), "served": len(ok),
        "served_by_host": dict(Counter(a.host for a in ok)),
        "failed": dict(Counter(f"{a.status} {a.code} {a.host}".strip() for a in answers if a.status != 200)),
        "cut_in_flight": len(cut), "failed_after_kill": len(late),
        "failed_s_after_kill": sorted(round(a.started - killed_at, 3) for a in failed),
        "holds_released_by_sweeper": swept,
        "charged_without_200": len(charged_unanswered), "victim_haproxy_status": victim_status,
        "money": money.public(now),
    }
    print(f"kill: {len(answers)} requests, {len(ok)} served {result['served_by_host']}; {len(cut)} in flight on "
          f"{args.victim} when it was killed, {len(late)} sent to it before HAProxy noticed; sweeper released "
          f"{swept} holds; {now['charges']} charges for {len(ok)} 200s "
          f"({len(charged_unanswered)} charged without a 200); balance {now['balance_micros']} = Σ ledger "
          f"{now['ledger_sum_micros']}, open holds {now['open_holds']}")
    outcome.conclude(result, checks, args.out)


if __name__ == "__main__":
    main()
