"""Helpers for the fault matrix (tests/billing/test_fault_matrix.py): the exact money state of one
account after a scenario, and the results table the matrix prints and writes to the pytest tmp dir."""

import asyncio
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

from billing.db import run_db
from billing.holds import lease
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.reconcile import ledger_reconcile
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens

START = 100_000_000  # the routing customer's (and alice's) funds: ¥100
# make_model's default price: ¥2.5 input, ¥1.25 cached input, ¥10 output per 1M tokens.
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


def cost_of(input_tokens: int, output_tokens: int) -> int:
    return charge_micros(Usage(input_tokens=input_tokens, output_tokens=output_tokens), PRICE)


def local_input_tokens(body: dict) -> int:
    """What the gateway counts for a request body (the estimate when no upstream usage arrives)."""
    return count_request_tokens(parse_request(json.dumps(body).encode()).typed)


@dataclass
class State:
    balance: int
    held: int
    ledger: list[tuple[str, int]]  # every row of the wallet, oldest first: (kind, amount)
    holds: list[str]  # statuses, oldest first
    records: list[tuple[int, str, bool, int]]  # (status, error_code, usage_estimated, cost)
    drift: list = field(default_factory=list)
    leases: list[str] = field(default_factory=list)  # wallet leases' hold statuses (billing/holds/lease.py)


def state_of(account) -> State:
    """Sync: call through run_db from async tests."""
    wallet = Wallet.objects.get(account=account)
    leases = Hold.objects.filter(wallet=wallet, request_id__startswith="lease_")
    return State(
        balance=wallet.balance_micros,
        held=wallet.held_micros,
        ledger=list(LedgerEntry.objects.filter(wallet=wallet).order_by("pk").values_list("kind", "amount_micros")),
        holds=list(
            Hold.objects.filter(wallet=wallet).exclude(request_id__startswith="lease_").order_by("pk")
            .values_list("status", flat=True)
        ),
        records=list(
            UsageRecord.objects.filter(account=account)
            .order_by("pk")
            .values_list("status", "error_code", "usage_estimated", "cost_micros")
        ),
        drift=[d.as_dict() for d in ledger_reconcile()],
        leases=list(leases.order_by("created_at").values_list("status", flat=True)),
    )


async def settled_state(account) -> State:
    """The state once the worker (this process's event loop) has given back its wallet leases, as at shutdown."""
    await lease.release_all()
    for _ in range(100):
        if not lease.current().held:
            break
        await asyncio.sleep(0.02)
    return await run_db(state_of, account)


def expect(
    got: State,
    *,
    ledger: list[tuple[str, int]],
    holds: list[str],
    records: list[tuple[int, str, bool, int]],
    start: int = START,
) -> None:
    """The exact state: balance = start + Σ new rows, nothing held, the given rows/holds/records, books clean."""
    assert got.ledger == [("credit", start), *ledger]
    assert got.balance == start + sum(amount for _, amount in ledger)
    assert got.held == 0
    assert got.holds == holds
    assert Hold.Status.OPEN not in got.leases
    assert got.records == records
    assert got.drift == []


class Matrix:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []  # (ending, result, state afterwards)
        self.mode = ""  # the money path the rows run on (own holds, wallet leases)

    @contextmanager
    def row(self, ending: str):
        """Record the row as PASS only if every assertion inside held; FAIL (and re-raise) otherwise."""
        box: dict = {}
        ending = f"{ending} [{self.mode}]" if self.mode else ending
        try:
            yield box
        except BaseException:
            self.rows.append((ending, "FAIL", box.get("summary", "")))
            raise
        self.rows.append((ending, "PASS", box.get("summary", "")))

    def table(self) -> str:
        width = max([len(e) for e, _, _ in self.rows] + [6])
        lines = [f"| {'ending':<{width}} | result | state afterwards |", f"|{'-' * (width + 2)}|--------|---|"]
        lines += [f"| {e:<{width}} | {r:<6} | {s} |" for e, r, s in self.rows]
        return "\n".join(lines)


def summary(got: State, start: int = START) -> str:
    ledger = ", ".join(f"{kind} {amount:+d}" for kind, amount in got.ledger[1:]) or "no new rows"
    holds = ",".join(got.holds) or "none"
    if got.leases:
        holds += f"; lease: {','.join(got.leases)}"
    records = ",".join(f"{s}{'/' + e if e else ''}{' est' if est else ''}" for s, e, est, _ in got.records) or "none"
    return (
        f"balance {got.balance - start:+d}µ; ledger: {ledger}; hold: {holds}; usage: {records}; "
        f"reconcile: {'clean' if not got.drift else 'DRIFT'}"
    )
