"""Wallet leases (billing/holds/lease.py): requests carved from a lease held in one statement must end in exactly
the money state their own holds would have left (balance = Σ ledger, held = Σ open holds, one charge per request),
through every ending: settled, released, replayed, usage above the carve, a lease swept under a live request, idle
and used-up leases given back, and many concurrent requests on one wallet. Real PostgreSQL, the event-loop tier."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing import holds, services
from billing.db import run_db
from billing.holds import aio, lease
from billing.holds import orm as holds_orm
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.pricing import PriceSnapshot, Usage, charge_micros, estimate_micros
from billing.reconcile import ledger_reconcile
from billing.selectors import wallet_summary
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True)]
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
LEASE = 1_000_000
CARVE = estimate_micros(100, 1000, PRICE)  # 10_250: what a request's own hold would be
USED = Usage(input_tokens=100, output_tokens=400)
COST = charge_micros(USED, PRICE)  # 4_250


@pytest.fixture(autouse=True)
def _leases_on(settings):
    if connection.vendor != "postgresql":
        pytest.skip("wallet leases ride on the event-loop tier, which is PostgreSQL's")
    settings.HARNMODEL_DB_ASYNC = True
    settings.HARNMODEL_WALLET_LEASE_MICROS = LEASE
    settings.HARNMODEL_WALLET_LEASE_SHARE_PERCENT = 10
    settings.HARNMODEL_WALLET_LEASE_IDLE_SECONDS = 60
    settings.HARNMODEL_WALLET_LEASE_TTL_SECONDS = 60


async def _reserve(account, rid, max_output=1000, leasable=True):
    return await holds.reserve(account_id=account.pk, request_id=rid, input_tokens=100, max_output_tokens=max_output,
                               price=PRICE, ttl_seconds=60, api_key_id=None, leasable=leasable)


async def _settle(account, rid, usage=USED):
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", status=200 if usage else 502)
    return await holds.settle(request_id=rid, usage=usage, price=PRICE, facts=facts)


def _state(account) -> dict:
    summary = wallet_summary(account_id=account.pk)
    assert summary["balance_micros"] == summary["ledger_sum_micros"]
    assert summary["held_micros"] == summary["open_holds_micros"]
    assert ledger_reconcile() == []
    return summary


def _lease_rows(account):
    return list(Hold.objects.filter(wallet__account=account, request_id__startswith="lease_").order_by("created_at")
                .values_list("status", "amount_micros"))


async def _quiet():
    """Let the leases' background releases finish."""
    for _ in range(50):
        if not lease.current().tasks:
            return
        await asyncio.sleep(0.02)


async def test_requests_carved_from_one_lease_settle_exactly_with_one_statement_each():
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    batcher = aio.current_pool().batcher
    before = batcher.round_trips
    first = await _reserve(account, "r1")
    second = await _reserve(account, "r2")
    assert first.amount_micros == second.amount_micros == CARVE and first.output_cap == 1000
    assert batcher.round_trips - before == 1  # one lease statement for both admissions
    # Nothing per request in the database before it settles: only the lease is held.
    assert await run_db(_lease_rows, account) == [("open", LEASE)]
    assert await run_db(lambda: Hold.objects.filter(request_id__in=["r1", "r2"]).exists()) is False
    assert holds.is_carved("r1")

    one = await _settle(account, "r1")
    two = await _settle(account, "r2", usage=None)  # released: nothing charged
    assert batcher.round_trips - before == 3  # and one statement per settlement
    assert (one.cost_micros, two.cost_micros, one.replayed) == (COST, 0, False)
    assert not holds.is_carved("r1")

    def check():
        summary = _state(account)
        assert summary["balance_micros"] == 100_000_000 - COST == one.balance_micros
        assert summary["held_micros"] == LEASE - 2 * CARVE  # the rest of the lease is still held
        assert _lease_rows(account) == [("open", LEASE - 2 * CARVE)]
        rows = dict(Hold.objects.filter(request_id__in=["r1", "r2"]).values_list("request_id", "status"))
        assert rows == {"r1": "settled", "r2": "released"}
        assert Hold.objects.get(request_id="r1").amount_micros == CARVE
        assert Hold.objects.get(request_id="r1").id == uuid.UUID(first.hold_id)
        entry = LedgerEntry.objects.get(request_id="r1")
        assert (entry.amount_micros, entry.balance_after_micros, entry.idempotency_key) == (-COST, one.balance_micros,
                                                                                             "charge:r1")
        assert not LedgerEntry.objects.filter(request_id="r2").exists()
        assert UsageRecord.objects.filter(request_id__in=["r1", "r2"]).count() == 2

    await run_db(check)


async def test_a_second_settlement_is_a_replay_and_charges_nothing():
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "r1")
    once = await _settle(account, "r1")
    again = await _settle(account, "r1")
    assert again.replayed and again.cost_micros == once.cost_micros == COST
    assert await run_db(lambda: LedgerEntry.objects.filter(request_id="r1").count()) == 1
    await run_db(_state, account)


async def test_small_wallets_big_requests_and_capped_keys_hold_their_own():
    small, _ = await run_db(make_customer, "small@example.com", balance="5")  # a lease would be 20 % of it
    assert (await _reserve(small, "s1")).amount_micros == CARVE
    assert await run_db(_lease_rows, small) == []
    assert await run_db(lambda: Hold.objects.get(request_id="s1").status) == "open"
    rich, _ = await run_db(make_customer, "rich@example.com", balance="100")
    await _reserve(rich, "big", max_output=30_000)  # 300_250 > a quarter of the lease
    await _reserve(rich, "capped", leasable=False)  # a key with caps or budgets: its hold is read before it settles
    assert await run_db(lambda: set(Hold.objects.filter(status="open").values_list("request_id", flat=True))) == {
        "s1", "big", "capped"}
    for account, rid in ((small, "s1"), (rich, "big"), (rich, "capped")):
        await _settle(account, rid)
    await run_db(_state, small)
    await run_db(_state, rich)


async def test_usage_above_the_carve_is_charged_by_the_locked_path_under_the_overdraft_rule():
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "r1")
    over = Usage(input_tokens=100, output_tokens=2000)  # the upstream ignored the cap
    settled = await _settle(account, "r1", usage=over)
    assert settled.cost_micros == charge_micros(over, PRICE) > CARVE

    def check():
        summary = _state(account)
        assert summary["balance_micros"] == 100_000_000 - settled.cost_micros
        assert _lease_rows(account) == [("open", LEASE - CARVE)]
        assert Hold.objects.get(request_id="r1").status == "settled"

    await run_db(check)


async def test_a_request_that_outlives_its_swept_lease_is_charged_unheld():
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "r1")
    expiry = await run_db(lambda: Hold.objects.get(request_id__startswith="lease_").expires_at)
    assert await run_db(services.holds_expire, now=expiry + timedelta(seconds=1)) == 1  # the worker looked dead
    assert (await run_db(_state, account))["held_micros"] == 0
    settled = await _settle(account, "r1")
    assert settled.cost_micros == COST and not settled.replayed

    def check():
        summary = _state(account)
        assert summary["balance_micros"] == 100_000_000 - COST and summary["held_micros"] == 0
        assert _lease_rows(account) == [("expired", LEASE)]

    await run_db(check)
    # The swept lease is not carved from again: the next request takes a new one.
    await lease.current()._touch(60)
    await _reserve(account, "r2")
    await _settle(account, "r2")
    await _quiet()
    assert [status for status, _ in await run_db(_lease_rows, account)] == ["expired", "open"]
    await run_db(_state, account)


async def test_a_used_up_lease_goes_back_when_its_last_carve_settles(settings):
    settings.HARNMODEL_WALLET_LEASE_MICROS = 4 * CARVE  # four carves per lease
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    for n in range(5):
        await _reserve(account, f"r{n}")
    assert [s for s, _ in await run_db(_lease_rows, account)] == ["open", "open"]
    for n in range(5):
        await _settle(account, f"r{n}")
    await _quiet()

    def check():
        summary = _state(account)
        assert _lease_rows(account) == [("released", 0), ("open", 3 * CARVE)]
        assert summary["held_micros"] == 3 * CARVE
        assert summary["balance_micros"] == 100_000_000 - 5 * COST

    await run_db(check)
    await lease.release_all()  # shutdown
    assert (await run_db(_state, account))["held_micros"] == 0


async def test_an_idle_lease_goes_back_by_itself(settings):
    settings.HARNMODEL_WALLET_LEASE_IDLE_SECONDS = 0.1
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "r1")
    await _settle(account, "r1")
    for _ in range(100):
        if (await run_db(_lease_rows, account))[0][0] == "released":
            break
        await asyncio.sleep(0.05)
    summary = await run_db(_state, account)
    assert summary["held_micros"] == 0 and summary["balance_micros"] == 100_000_000 - COST
    assert await run_db(_lease_rows, account) == [("released", LEASE - CARVE)]


async def test_a_live_lease_is_touched_and_a_swept_one_is_retired(settings):
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "r1")
    first = await run_db(lambda: Hold.objects.get(request_id__startswith="lease_").expires_at)
    await lease.current()._touch(600)
    touched = await run_db(lambda: Hold.objects.get(request_id__startswith="lease_").expires_at)
    assert touched > first + timedelta(seconds=500)
    await _settle(account, "r1")
    await lease.release_all()
    await _quiet()
    assert (await run_db(_state, account))["held_micros"] == 0


async def test_concurrent_requests_on_one_wallet_never_overdraw_and_end_exact(settings):
    settings.HARNMODEL_WALLET_LEASE_MICROS = 100_000  # ~9 carves per lease: many leases under the load
    account, _ = await run_db(make_customer, "hot@example.com", balance="1")  # ~97 worst cases
    rids = [f"c{n}" for n in range(200)]

    async def one(rid):
        try:
            await _reserve(account, rid)
        except holds.InsufficientBalance:
            return False
        await asyncio.sleep(0)
        await _settle(account, rid)
        return True

    done = await asyncio.gather(*(one(rid) for rid in rids))
    await lease.release_all()
    await _quiet()
    charged = sum(done)
    assert 0 < charged <= 200

    def check():
        summary = _state(account)
        assert summary["held_micros"] == 0 and summary["balance_micros"] >= 0
        assert summary["balance_micros"] == 1_000_000 - charged * COST
        assert LedgerEntry.objects.filter(kind="charge").count() == charged
        assert UsageRecord.objects.filter(account_id=account.pk).count() == charged
        assert not Hold.objects.filter(status="open").exists()

    await run_db(check)


async def test_the_statements_refuse_what_they_cannot_decide_and_the_orm_path_agrees():
    """Side by side: the same carve settled by the statement and by the locked path writes the same rows."""
    account, _ = await run_db(make_customer, "lease@example.com", balance="100")
    await _reserve(account, "a")
    await _reserve(account, "b")
    carve_b = lease.current().claim("b")
    await _settle(account, "a")  # the statement
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", status=200)
    await run_db(holds_orm.settle_leased, lease_id=carve_b.lease.lease_id,
                 carve=carve_b.amount, hold_id=carve_b.hold_id, request_id="b", usage=USED, price=PRICE, facts=facts)
    lease.current().settled(carve_b)

    def rows(rid):
        hold = Hold.objects.get(request_id=rid)
        entry = LedgerEntry.objects.get(request_id=rid)
        record = UsageRecord.objects.get(request_id=rid)
        return ((hold.status, hold.amount_micros, hold.api_key_id, hold.closed_at is not None,
                 hold.expires_at <= timezone.now()),
                (entry.kind, entry.amount_micros, entry.idempotency_key.split(":")[0], entry.actor),
                (record.cost_micros, record.input_tokens, record.output_tokens, record.status))

    a, b = await run_db(lambda: (rows("a"), rows("b")))
    assert a == b
    assert (await run_db(_state, account))["held_micros"] == LEASE - 2 * CARVE
