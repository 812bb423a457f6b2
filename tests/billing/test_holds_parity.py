"""Every path through billing/holds writes the same rows: each scenario runs once per path, on a wallet of
its own, and the resulting Wallet, Hold, LedgerEntry and UsageRecord rows are compared side by side, every
column (ids and the clocks' values aside; whether a time is set is compared).

Paths: `locked` (holds/orm.py alone), `statement` (holds/statement.py: the statement through Django's
connection, then the locked path), `event_loop` (holds.reserve/settle: the statement on the event loop,
then the locked path in a DB thread). On SQLite only the locked path exists: it runs there against the
hand-computed numbers, and the side-by-side comparison skips. Each step also says which tier must decide
it, so a statement path that quietly handed everything to the locked path would fail here.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection

from billing import holds, services
from billing.db import run_db
from billing.holds import orm, statement
from billing.models import Hold, LedgerEntry, Price, UsageRecord, Wallet
from billing.pricing import Usage
from billing.reconcile import ledger_reconcile
from billing.selectors import price_snapshot
from gateway.models import ApiKey
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)
PATHS = ("locked", "statement", "event_loop")


@dataclass(frozen=True)
class Reserve:
    rid: str
    input_tokens: int = 100
    max_output: int = 1000
    tools: bool = False  # hold two web_search calls
    locked: bool = False  # the locked path must decide it (a statement path could not)
    read_refuses: bool = False  # the event loop refuses it from a read of the free balance, before the locked path


@dataclass(frozen=True)
class Settle:
    rid: str
    usage: Usage | None
    locked: bool = False


@dataclass(frozen=True)
class Expire:
    rid: str  # the sweeper releases this hold (its worker "died"); a later settle finds it expired


@dataclass(frozen=True)
class Scenario:
    balance: str
    steps: tuple
    balance_after: int  # hand-computed, checked on every path and database
    charges: tuple[int, ...] = ()  # ledger charge amounts, in order
    overdraft: int = 0
    answers: list = field(default_factory=list)


# PRICE: 2.5 / 1.25 / 10 per 1M input / cached / output tokens, web_search 25_000 µ a call.
SCENARIOS = {
    # 100 in + 300 out = 250 + 3000
    "success": Scenario("1", (Reserve("r1"), Settle("r1", Usage(input_tokens=100, output_tokens=300))),
                        1_000_000 - 3250, (-3250,)),
    # two holds of 10_000; r1 reports 5000 output tokens (50_000 µ): charged its hold plus nothing more
    "capped_above_hold": Scenario(
        "0.02",
        (Reserve("r1", input_tokens=0), Reserve("r2", input_tokens=0),
         Settle("r1", Usage(output_tokens=5000), locked=True)),
        20_000 - 10_000, (-10_000,),
    ),
    "zero_cost": Scenario("1", (Reserve("r1"), Settle("r1", Usage())), 1_000_000),
    "duplicate_settle": Scenario(
        "1",
        (Reserve("r1"), Settle("r1", Usage(input_tokens=100, output_tokens=50)),
         Settle("r1", Usage(input_tokens=100, output_tokens=50), locked=True)),
        1_000_000 - 750, (-750,),
    ),
    "release": Scenario("1", (Reserve("r1"), Settle("r1", None)), 1_000_000),
    "insufficient_balance": Scenario("0", (Reserve("r1", locked=True, read_refuses=True),), 0),
    # 0.005 cannot hold 100 in + 100_000 out: the output is capped to what it pays for
    "short_wallet": Scenario(
        "0.005", (Reserve("r1", max_output=100_000, locked=True), Settle("r1", Usage(input_tokens=100, output_tokens=10))),
        5000 - 350, (-350,),
    ),
    # 1_000_000 in (2_500_000 µ) against a 10_250 hold and 10_000 free: hold + free + 20_000 overdraft
    "overdraft_rule": Scenario(
        "0.02", (Reserve("r1"), Settle("r1", Usage(input_tokens=1_000_000, output_tokens=10), locked=True)),
        -20_000, (-40_000,), overdraft=20_000,
    ),
    # 600 uncached (1500) + 400 cached (500) + 200 output, reasoning included (2000)
    "cached_and_reasoning": Scenario(
        "1",
        (Reserve("r1", input_tokens=1000),
         Settle("r1", Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=200, reasoning_tokens=150))),
        1_000_000 - 4000, (-4000,),
    ),
    # 100 in + 50 out (750) + 2 web_search calls (50_000)
    "tool_calls": Scenario(
        "1",
        (Reserve("r1", tools=True),
         Settle("r1", Usage(input_tokens=100, output_tokens=50, tool_calls=(("web_search", 2),)))),
        1_000_000 - 50_750, (-50_750,),
    ),
    # the sweeper released the hold; usage arriving later is charged unheld (overdraft rule)
    "expired_then_settled": Scenario(
        "1", (Reserve("r1"), Expire("r1"), Settle("r1", Usage(input_tokens=100, output_tokens=300), locked=True)),
        1_000_000 - 3250, (-3250,),
    ),
}


def _price():
    price, _ = services.price_publish(
        model_id="parity-model", input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000,
        tool_call_micros={"web_search": 25_000},
    )
    return price_snapshot(Price.objects.get(pk=price.pk))


class Spy:
    """Counts the locked path's decisions; calls it as is."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[str] = []
        for name in ("reserve", "settle"):
            real = getattr(orm, name)
            monkeypatch.setattr(orm, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def spied(**kwargs):
            self.calls.append(f"{name}:{kwargs['request_id']}")
            return real(**kwargs)

        return spied


async def _run(path: str, scenario: Scenario, spy: Spy) -> tuple[list, list]:
    """Run the scenario on a fresh wallet through one path. Returns (answers, tiers that decided)."""
    account, _ = await run_db(make_customer, f"{path}@example.com", balance=scenario.balance)
    key_id = await run_db(lambda: ApiKey.objects.get(account=account).pk)
    price = await run_db(_price)
    answers: list = []
    tiers: list[bool] = []
    for step in scenario.steps:
        rid = f"{path}-{step.rid}"
        spy.calls.clear()
        if isinstance(step, Expire):
            await run_db(_expire, rid)
            continue
        if isinstance(step, Reserve):
            hold = {"account_id": account.pk, "request_id": rid, "input_tokens": step.input_tokens,
                    "max_output_tokens": step.max_output, "price": price, "ttl_seconds": 60,
                    "tool_micros": 50_000 if step.tools else 0, "api_key_id": key_id}
            call = {"locked": orm.reserve, "statement": statement.reserve}.get(path)
            try:
                got = await (run_db(call, **hold) if call else holds.reserve(**hold))
                answers.append((got.amount_micros, got.output_cap))
            except holds.InsufficientBalance:
                answers.append("refused")
        else:
            facts = holds.RequestFacts(
                account_id=account.pk, model_id="parity-model", api_key_id=key_id, upstream_model="up-model",
                door="chat", stream=True, status=200 if step.usage else 502,
                error_code="" if step.usage else "upstream_error", latency_ms=123, first_byte_ms=45,
                attempts=[{"channel": 7, "status": 200}], upstream_cost_micros=99,
            )
            closing = {"request_id": rid, "usage": step.usage, "price": price, "facts": facts,
                       "usage_estimated": step.usage is not None and step.usage.reasoning_tokens > 0}
            call = {"locked": orm.settle, "statement": statement.settle}.get(path)
            got = await (run_db(call, **closing) if call else holds.settle(**closing))
            answers.append((got.cost_micros, got.balance_micros, got.replayed))
        tiers.append(bool(spy.calls))
    return answers, tiers


def _expire(rid: str) -> None:
    with time_machine.travel(Hold.objects.get(request_id=rid).expires_at + timedelta(seconds=1)):
        assert services.holds_expire() == 1


def _plain(value, path: str):
    if isinstance(value, datetime):
        return "<time>"  # the clocks differ; whether it is set does not
    if isinstance(value, str):
        return value.replace(f"{path}-", "").replace(f"{path}@", "@")
    return value


def rows(path: str) -> dict:
    """The path's rows, every column: ids of its own wallet, account and key named, not numbered."""
    wallet = Wallet.objects.get(account__email=f"{path}@example.com")
    own = {"wallet_id": wallet.pk, "account_id": wallet.account_id,
           "api_key_id": ApiKey.objects.get(account_id=wallet.account_id).pk}

    def table(queryset, order: str) -> list[dict]:
        out = []
        for row in queryset.order_by(order).values():
            row.pop("id")
            out.append({k: ("own" if own.get(k) == v and v is not None else _plain(v, path))
                        for k, v in row.items()})
        return out

    return {
        "wallet": table(Wallet.objects.filter(pk=wallet.pk), "pk"),
        "holds": table(Hold.objects.filter(wallet=wallet), "request_id"),
        "ledger": table(LedgerEntry.objects.filter(wallet=wallet), "pk"),
        "usage": table(UsageRecord.objects.filter(account_id=wallet.account_id), "request_id"),
    }


def _check_hand_numbers(scenario: Scenario, got: dict) -> None:
    assert ledger_reconcile() == []
    wallet = got["wallet"][0]
    assert wallet["balance_micros"] == scenario.balance_after
    assert wallet["held_micros"] == sum(h["amount_micros"] for h in got["holds"] if h["status"] == "open")
    assert tuple(e["amount_micros"] for e in got["ledger"] if e["kind"] == "charge") == scenario.charges
    for entry in got["ledger"]:
        if entry["kind"] == "charge":
            assert (entry["idempotency_key"], entry["actor"], entry["note"]) == (
                f"charge:{entry['request_id']}", "gateway", "parity-model")
    settle_steps = [s for s in scenario.steps if isinstance(s, Settle)]
    assert len(got["usage"]) == len({s.rid for s in settle_steps})
    for record in got["usage"]:
        usage = next(s.usage for s in settle_steps if s.rid == record["request_id"]) or Usage()
        assert (record["input_tokens"], record["cached_input_tokens"], record["output_tokens"],
                record["reasoning_tokens"], record["tool_calls"]) == (
            usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens,
            dict(usage.tool_calls))
        assert (record["api_key_id"], record["door"], record["attempts"]) == ("own", "chat", [{"channel": 7, "status": 200}])


@pytest.fixture
def money(settings):
    settings.HARNMODEL_DB_ASYNC = True
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 0


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_locked_path_books_each_scenario(name, money, settings, monkeypatch):
    scenario = SCENARIOS[name]
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = scenario.overdraft
    await _run("locked", scenario, Spy(monkeypatch))
    await run_db(_check_hand_numbers, scenario, await run_db(rows, "locked"))


@pytest.mark.parametrize("name", SCENARIOS)
async def test_every_path_writes_the_same_rows(name, money, settings, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the single statements are PostgreSQL's; the locked path runs on both")
    scenario = SCENARIOS[name]
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = scenario.overdraft
    spy = Spy(monkeypatch)
    results = {path: await _run(path, scenario, spy) for path in PATHS}
    books = {path: await run_db(rows, path) for path in PATHS}
    for path in ("statement", "event_loop"):
        answers, tiers = results[path]
        expected_tiers = [step.locked and not (path == "event_loop" and getattr(step, "read_refuses", False))
                          for step in scenario.steps if not isinstance(step, Expire)]
        assert tiers == expected_tiers, f"{path}: which tier decided each step"
        assert answers == results["locked"][0], f"{path}: the answers differ from the locked path's"
        for table in ("wallet", "holds", "ledger", "usage"):
            assert books[path][table] == books["locked"][table], f"{path}: {table} rows differ"
    await run_db(_check_hand_numbers, scenario, books["locked"])
