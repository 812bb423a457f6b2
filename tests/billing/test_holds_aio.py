"""The event-loop hold and settle (billing/holds/aio.py) must write exactly what the ORM path writes,
answer None whenever it cannot decide alone, and never hand a broken connection to the next request."""

import asyncio
import logging

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


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the async fast path is PostgreSQL's")
    settings.HARNMODEL_DB_ASYNC = True


def _hold(account, rid, max_output=1000):
    return {"account_id": account.pk, "request_id": rid, "input_tokens": 100, "max_output_tokens": max_output,
            "price": PRICE, "ttl_seconds": 60}


def _closing(account, rid, usage, *, channel_id=None, first_byte_ms=None):
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", channel_id=channel_id,
                                  first_byte_ms=first_byte_ms, status=200 if usage else 502,
                                  error_code="" if usage else "upstream_error", attempts=[{"status": 200}])
    return {"request_id": rid, "usage": usage, "price": PRICE, "facts": facts, "usage_estimated": False}


async def test_reserve_and_settle_on_the_loop_book_like_the_orm_path(caplog):
    assert aio.enabled()
    account, _ = await run_db(make_customer, "loop@example.com", balance="1")
    with caplog.at_level(logging.WARNING, logger="harnmodel.billing"):
        reservation = await aio.reserve(**_hold(account, "a1"))
        settled = await aio.settle(
            **_closing(account, "a1", Usage(input_tokens=100, cached_input_tokens=40, output_tokens=50))
        )
    assert not caplog.records  # no fallback: the statement itself did the work
    assert reservation is not None and reservation.amount_micros == 10_250
    assert settled is not None and settled.cost_micros == 700 and not settled.replayed

    def check() -> None:
        summary = wallet_summary(account_id=account.pk)
        assert summary["balance_micros"] == 1_000_000 - 700 == summary["ledger_sum_micros"] == settled.balance_micros
        assert summary["held_micros"] == 0 == summary["open_holds_micros"]
        entry = LedgerEntry.objects.get(idempotency_key="charge:a1")
        assert (entry.amount_micros, entry.balance_after_micros) == (-700, 999_300)
        record = UsageRecord.objects.get(request_id="a1")
        assert (record.cached_input_tokens, record.cost_micros, record.attempts) == (40, 700, [{"status": 200}])
        assert record.channel_id is None and record.first_byte_ms is None  # typed NULLs, not a fallback
        assert Hold.objects.get(request_id="a1").status == "settled"

    await run_db(check)


async def test_a_release_without_usage_writes_no_charge(caplog):
    account, _ = await run_db(make_customer, "loop@example.com", balance="1")
    await aio.reserve(**_hold(account, "a2"))
    with caplog.at_level(logging.WARNING, logger="harnmodel.billing"):
        settled = await aio.settle(**_closing(account, "a2", None))
    assert not caplog.records and settled is not None and settled.cost_micros == 0
    assert await run_db(lambda: (Hold.objects.get(request_id="a2").status,
                                 LedgerEntry.objects.filter(request_id="a2").count())) == ("released", 0)


async def test_what_it_cannot_decide_goes_back_to_the_orm_path():
    account, _ = await run_db(make_customer, "loop@example.com", balance="0.005")
    # Short wallet: the worst case does not fit; the ORM path caps the output instead of refusing.
    assert await aio.reserve(**_hold(account, "a3", max_output=100_000)) is None
    capped = await run_db(services.hold_reserve, **_hold(account, "a3", max_output=100_000))
    assert capped.output_cap < 100_000
    usage = Usage(input_tokens=100, output_tokens=10)
    first = await aio.settle(**_closing(account, "a3", usage))
    assert first is not None
    # A replay finds the hold closed: None, and the ORM path reports the replay without charging again.
    assert await aio.settle(**_closing(account, "a3", usage)) is None
    again = await run_db(services.hold_settle, **_closing(account, "a3", usage))
    assert again.replayed
    assert await run_db(lambda: LedgerEntry.objects.filter(kind="charge").count()) == 1


async def test_a_cancelled_statement_does_not_poison_the_pool(settings):
    account, _ = await run_db(make_customer, "loop@example.com", balance="1")
    settings.HARNMODEL_DB_PERSISTENT = True  # the pool keeps its connections, as production does
    pool = aio.current_pool()
    settings.HARNMODEL_DB_PERSISTENT = False  # the DB threads' do not (the test database is dropped at the end)
    slow = asyncio.ensure_future(pool.fetch_one(0, "SELECT pg_sleep(2)", {}))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    for conn in pool.idle:  # whatever went back is idle and usable
        assert not conn.broken
    reservation = await aio.reserve(**_hold(account, "a4"))
    assert reservation is not None
    for conn in pool.idle:
        await conn.close()
    pool.idle.clear()
    # The server finishes the abandoned sleep on its own; wait for it, or the test database cannot be dropped.
    for _ in range(50):
        if not await run_db(_sleeping):
            break
        await asyncio.sleep(0.1)


def _sleeping() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(2)' AND state = 'active'")
        return cursor.fetchone()[0] > 0


async def test_each_event_loop_gets_its_own_connections():
    pool = aio.current_pool()
    assert pool.loop is asyncio.get_running_loop()
    assert aio.current_pool() is pool
