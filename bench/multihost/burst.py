"""Money stays exact across hosts: N concurrent requests against a balance for AFFORD of them.

All N are sent at once through the load balancer (one connection each, so they spread over every host).
First the gateway's own quote must say the request's hold is exactly its charge, which is what makes
"a balance for AFFORD" admit exactly AFFORD. Then: exactly AFFORD answered 200, every other one a 402
`insufficient_balance`, and the customer's money exact (money.py): no overdraft, Σ ledger = balance,
no open hold, one charge per 200, usage records = charges.

usage: burst.py --state state.json --lb http://127.0.0.1:18200 -n 200 --out burst.json
"""

import argparse
import asyncio
import json
from collections import Counter

import client
import djangoenv  # noqa: F401
import money
import outcome
import request

from billing.money import parse_amount


async def quote(lb: str, key: str) -> dict:
    async with client.session() as http, http.post(
        lb + "/v1/quote", data=request.body(), headers={"authorization": f"Bearer {key}"}
    ) as response:
        return await response.json()


async def fire(lb: str, key: str, n: int) -> list[client.Answer]:
    async with client.session() as http:
        return list(await asyncio.gather(*(client.post(http, lb, "/v1/responses", key, request.body())
                                           for _ in range(n))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--lb", required=True)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = json.load(open(args.state))
    customer, cost = state["customers"]["burst"], state["cost_micros"]
    afford = customer["funds"] // cost

    quoted = asyncio.run(quote(args.lb, customer["key"]))
    hold = parse_amount(quoted["hold"]) if "hold" in quoted else None
    answers = asyncio.run(fire(args.lb, customer["key"], args.n))
    ok = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status == 402 and a.code == "insufficient_balance"]
    now = money.wait_settled(customer["account_id"], timeout=30)
    checks = {
        "hold_equals_charge": hold == cost,
        "exactly_afford_served": len(ok) == afford,
        "the_rest_refused_402": len(ok) + len(refused) == args.n,
        "balance_spent_exactly": now["balance_micros"] == customer["funds"] - afford * cost,
        **money.exact(now, answered=[a.request_id for a in ok], cost=cost, funds=customer["funds"]),
    }
    result = {
        "check": "burst", "requests": args.n, "afford": afford, "cost_micros": cost, "quote_hold_micros": hold,
        "served": len(ok), "refused_402": len(refused),
        "statuses": dict(Counter(f"{a.status} {a.code}".strip() for a in answers)),
        "served_by_host": dict(Counter(a.host for a in ok)), "sent_to_host": dict(Counter(a.host for a in answers)),
        "seconds": round(max(a.ended for a in answers) - min(a.started for a in answers), 3),
        "money": money.public(now),
    }
    print(f"burst: {args.n} at once, balance for {afford}: {len(ok)} served "
          f"{result['served_by_host']}, {len(refused)} refused 402; balance {now['balance_micros']}, "
          f"Σ ledger {now['ledger_sum_micros']}, open holds {now['open_holds']}")
    outcome.conclude(result, checks, args.out)


if __name__ == "__main__":
    main()
