"""A single statement that raises is never swallowed (billing/holds/errors.py): it is logged and counted, and
either the locked path decides (the statement changed nothing, or its commit is found under the lock) or
the error is raised. Never a second write. PostgreSQL: the statements are its."""

import logging

import pytest
from django.db import DataError, IntegrityError, connection

from billing import holds
from billing.db import run_db
from billing.holds import aio, orm, statement
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.pricing import PriceSnapshot, Usage
from billing.selectors import wallet_summary
from gateway.observe.metrics import BILLING_STATEMENT_ERRORS
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the single statements are PostgreSQL's")
    settings.HARNMODEL_DB_ASYNC = True


def counted(op: str, error: str, then: str) -> float:
    return BILLING_STATEMENT_ERRORS.labels(op=op, error=error, then=then)._value.get()


def hold(account, rid: str) -> dict:
    return {"account_id": account.pk, "request_id": rid, "input_tokens": 100, "max_output_tokens": 1000,
            "price": PRICE, "ttl_seconds": 60}


def facts(account, **kw) -> holds.RequestFacts:
    return holds.RequestFacts(account_id=account.pk, model_id="gpt-4o", **kw)


def locked_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    for name in ("reserve", "settle"):
        real = getattr(orm, name)

        def spied(_real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(**kwargs)

        monkeypatch.setattr(orm, name, spied)
    return calls


def test_an_error_in_our_own_data_is_raised_not_handed_to_the_locked_path(monkeypatch, caplog):
    """Before, any database error turned into a silent fallback. A value the column refuses is a bug: it
    must surface, and nothing of the settlement may be written."""
    account, _ = make_customer("err@example.com", balance="1")
    statement.reserve(**hold(account, "e1"))
    calls = locked_calls(monkeypatch)
    before = counted("settle", "DataError", "raised")
    with caplog.at_level(logging.ERROR, logger="harnmodel.billing"), pytest.raises(DataError):
        statement.settle(request_id="e1", usage=Usage(output_tokens=1), price=PRICE,
                         facts=facts(account, error_code="x" * 65))  # the column holds 64
    assert calls == []
    assert counted("settle", "DataError", "raised") == before + 1
    assert any(r.request_id == "e1" and "raising it" in r.getMessage() for r in caplog.records)
    assert Hold.objects.get(request_id="e1").status == "open"
    assert not LedgerEntry.objects.filter(request_id="e1").exists() and not UsageRecord.objects.exists()


def test_a_repeated_reserve_is_counted_and_never_holds_twice(monkeypatch, caplog):
    """The statement's reply lost after it committed, and the hold asked again: the unique request id stops
    the statement (logged, counted), then the locked path (raised); the wallet is held once."""
    account, _ = make_customer("err@example.com", balance="1")
    first = statement.reserve(**hold(account, "e2"))
    calls = locked_calls(monkeypatch)
    before = counted("reserve", "IntegrityError", "locked_path")
    with caplog.at_level(logging.ERROR, logger="harnmodel.billing"), pytest.raises(IntegrityError):
        statement.reserve(**hold(account, "e2"))
    assert calls == ["reserve"]
    assert counted("reserve", "IntegrityError", "locked_path") == before + 1
    assert any(r.request_id == "e2" and "the locked path decides" in r.getMessage() for r in caplog.records)
    summary = wallet_summary(account_id=account.pk)
    assert summary["held_micros"] == first.amount_micros == summary["open_holds_micros"]


async def test_a_dead_event_loop_connection_is_counted_and_the_locked_path_settles_once(settings, monkeypatch):
    account, _ = await run_db(make_customer, "err@example.com", balance="1")
    settings.HARNMODEL_DB_PERSISTENT = True  # the event loop's pool keeps its connection, so it can die idle
    pool = aio.current_pool()
    settings.HARNMODEL_DB_PERSISTENT = False  # the DB threads' connections close (the test database is dropped)
    await holds.reserve(**hold(account, "e3"))
    assert pool.idle
    pids = [conn.info.backend_pid for conn in pool.idle]

    def kill() -> None:
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    await run_db(kill)
    calls = locked_calls(monkeypatch)
    before = counted("settle", "AdminShutdown", "locked_path")  # an OperationalError: the server hung up
    usage = Usage(input_tokens=100, output_tokens=50)
    try:
        settled = await holds.settle(request_id="e3", usage=usage, price=PRICE, facts=facts(account))
        assert calls == ["settle"] and not settled.replayed and settled.cost_micros == 750
        assert counted("settle", "AdminShutdown", "locked_path") == before + 1
        again = await holds.settle(request_id="e3", usage=usage, price=PRICE, facts=facts(account))
        assert again.replayed
    finally:
        for conn in pool.idle:
            await conn.close()
        pool.idle.clear()
    charges = await run_db(lambda: list(LedgerEntry.objects.filter(kind="charge").values_list("amount_micros",
                                                                                                flat=True)))
    assert charges == [-750]

