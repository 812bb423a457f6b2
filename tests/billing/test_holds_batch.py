"""Group commit (billing/holds/batch.py): concurrent money statements share round trips and commits, yet
each request gets exactly the answer it would get alone, a failing statement harms no other, and the
books close to the micro under a crowd on one wallet (PostgreSQL)."""

import asyncio

import pytest
from django.db import connection

from billing import services
from billing.db import run_db
from billing.holds import aio
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.pricing import PriceSnapshot, Usage
from billing.selectors import wallet_summary
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True)]
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
HOLD = 10_250  # 100 input + 1 000 output tokens at PRICE
COST = 750  # 100 input + 50 output tokens at PRICE


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the event-loop statements (and so their batches) are PostgreSQL's")
    settings.HARNMODEL_DB_ASYNC = True


def _hold(account, rid):
    return {"account_id": account.pk, "request_id": rid, "input_tokens": 100, "max_output_tokens": 1000,
            "price": PRICE, "ttl_seconds": 60}


def _closing(account, rid):
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", status=200)
    return {"request_id": rid, "usage": Usage(input_tokens=100, output_tokens=50), "price": PRICE, "facts": facts}


async def test_a_crowd_on_one_wallet_shares_round_trips_and_never_overdraws():
    account, _ = await run_db(make_customer, "crowd@example.com", balance="0.2")  # 19 holds fit, not 40
    batcher = aio.current_pool().batcher
    before = batcher.round_trips
    reservations = await asyncio.gather(*(aio.reserve(**_hold(account, f"c{i}")) for i in range(40)))
    held = [f"c{i}" for i, r in enumerate(reservations) if r is not None]
    assert len(held) == 200_000 // HOLD == 19  # exactly what the wallet covers: no more, no fewer
    assert all(r.amount_micros == HOLD for r in reservations if r is not None)
    settled = await asyncio.gather(*(aio.settle(**_closing(account, rid)) for rid in held))
    assert all(s is not None and s.cost_micros == COST for s in settled)
    assert batcher.round_trips - before <= 4  # 59 statements, a crowd arriving together: a few round trips
    assert sorted(s.balance_micros for s in settled)[0] == 200_000 - 19 * COST  # every balance after is exact

    def check() -> None:
        summary = wallet_summary(account_id=account.pk)
        assert summary["balance_micros"] == 200_000 - 19 * COST == summary["ledger_sum_micros"]
        assert summary["held_micros"] == 0 == summary["open_holds_micros"]
        assert LedgerEntry.objects.filter(kind="charge").count() == 19 == UsageRecord.objects.count()
        assert Hold.objects.filter(status="settled").count() == 19

    await run_db(check)


async def test_a_failing_statement_leaves_the_rest_of_its_batch_answered_alone():
    account, _ = await run_db(make_customer, "iso@example.com", balance="1")
    assert await aio.reserve(**_hold(account, "taken")) is not None
    batcher = aio.current_pool().batcher
    # The same request id again fails its unique key: the whole batch is rolled back and run one by one,
    # so only that statement fails (and its caller goes to the locked path); the others hold once each.
    again, *others = await asyncio.gather(
        aio.reserve(**_hold(account, "taken")),
        *(aio.reserve(**_hold(account, f"ok{i}")) for i in range(5)),
    )
    assert again is None and all(r is not None for r in others)
    assert batcher.round_trips > 0

    def check() -> None:
        assert Hold.objects.filter(request_id="taken").count() == 1
        assert Hold.objects.filter(request_id__startswith="ok").count() == 5
        assert wallet_summary(account_id=account.pk)["held_micros"] == 6 * HOLD

    await run_db(check)


async def test_two_connections_take_wallets_in_one_order(settings):
    """Batches on several connections each lock the wallets they touch; sorted by account they cannot
    deadlock (a deadlock would cost a second and a batch)."""
    accounts = [(await run_db(make_customer, f"w{i}@example.com", balance="1"))[0] for i in range(4)]
    rounds = []
    for n in range(3):
        crowd = [aio.reserve(**_hold(accounts[(i * 7 + n) % 4], f"r{n}-{i}")) for i in range(32)]
        rounds.append(asyncio.gather(*crowd))
    results = await asyncio.wait_for(asyncio.gather(*rounds), timeout=5)
    assert all(r is not None for batch in results for r in batch)
    held = await run_db(lambda: [wallet_summary(account_id=a.pk)["held_micros"] for a in accounts])
    assert sum(held) == 96 * HOLD
