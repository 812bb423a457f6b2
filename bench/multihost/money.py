"""The money truth of one customer, straight from the database, and the assertions that make it exact.

Import after djangoenv. Exact means: the wallet never below zero, the ledger's sum is the balance, nothing
held and no hold left open, one charge of the request's cost per answered request and none twice, and one
usage record per charge at the same cost.
"""

import time
from collections import Counter

from django.db import connection, transaction
from django.db.models import Sum

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet


def truth(account_id: int) -> dict:
    """One snapshot (REPEATABLE READ): read while the hosts still settle, separate reads would mix moments
    (a wallet read before a settlement and its ledger row read after it)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _read(account_id)


def _read(account_id: int) -> dict:
    wallet = Wallet.objects.get(account_id=account_id)
    ledger = LedgerEntry.objects.filter(wallet=wallet)
    charges = list(ledger.filter(kind=LedgerEntry.Kind.CHARGE).values_list("request_id", "amount_micros"))
    usage = UsageRecord.objects.filter(account_id=account_id)
    return {
        "balance_micros": wallet.balance_micros,
        "held_micros": wallet.held_micros,
        "ledger_sum_micros": ledger.aggregate(s=Sum("amount_micros"))["s"] or 0,
        "open_holds": Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).count(),
        "holds_by_status": dict(Counter(Hold.objects.filter(wallet=wallet).values_list("status", flat=True))),
        "charges": len(charges),
        "charged_micros": -sum(amount for _, amount in charges),
        "usage_records": usage.count(),
        "usage_charged": usage.filter(cost_micros__gt=0).count(),
        "usage_cost_micros": usage.aggregate(s=Sum("cost_micros"))["s"] or 0,
        "_charges": charges,  # dropped before the result is written
    }


def wait_settled(account_id: int, timeout: float) -> dict:
    """Requests a client gave up on may still be settling: wait until no hold is open and two snapshots half
    a second apart agree (a request still before its hold would show up in the second), or until timeout."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        now = truth(account_id)
        settled = not now["open_holds"] and last is not None and public(now) == public(last)
        if settled or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(0.5)


def exact(now: dict, *, answered: list[str], cost: int, funds: int) -> dict[str, bool]:
    """The assertions for a customer credited `funds` once, whose `answered` request ids got a 200."""
    per_request = Counter(request_id for request_id, _ in now["_charges"])
    return {
        "no_overdraft": now["balance_micros"] >= 0,
        "ledger_sum_is_balance": now["ledger_sum_micros"] == now["balance_micros"],
        "balance_is_funds_minus_charges": now["balance_micros"] == funds - now["charged_micros"],
        "nothing_held": now["held_micros"] == 0,
        "no_open_holds": now["open_holds"] == 0,
        "every_200_charged_once": all(per_request[request_id] == 1 for request_id in answered),
        "no_request_charged_twice": all(count == 1 for count in per_request.values()),
        "every_charge_is_the_cost": all(amount == -cost for _, amount in now["_charges"]),
        "usage_records_match_charges": now["usage_charged"] == now["charges"]
        and now["usage_cost_micros"] == now["charged_micros"],
    }


def public(now: dict) -> dict:
    return {k: v for k, v in now.items() if not k.startswith("_")}
