"""Usage above the hold (billing/overdraft.py): charged up to hold + free balance + HARNMODEL_OVERDRAFT_LIMIT_MICROS,
the rest recorded and alerted; a settlement that finds its hold expired still charges; a wallet below zero gets 402.
On PostgreSQL the three settle paths (ORM, single statement, event loop) are run side by side on the same scenarios."""

import itertools
from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from billing import overdraft, services
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage
from billing.reconcile import ledger_reconcile
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
HUGE = Usage(input_tokens=1_000_000, output_tokens=10)  # 2_500_100 micros


def reserve(account, request_id, *, max_output=1000):
    return services.hold_reserve(
        account_id=account.pk, request_id=request_id, input_tokens=0, max_output_tokens=max_output,
        price=PRICE, ttl_seconds=60,
    )


def settle(account, request_id, usage):
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o")
    return services.hold_settle(request_id=request_id, usage=usage, price=PRICE, facts=facts)


def book(account):
    """(balance, held, [ledger amounts], [(request, cost, error_code)]), after checking the books close."""
    wallet = Wallet.objects.get(account=account)
    assert ledger_reconcile() == []
    ledger = list(LedgerEntry.objects.filter(wallet=wallet).order_by("pk").values_list("amount_micros", flat=True))
    records = list(UsageRecord.objects.filter(account=account).order_by("pk").values_list(
        "request_id", "cost_micros", "error_code"))
    return wallet.balance_micros, wallet.held_micros, ledger, records


def test_the_rule_exactly():
    split = overdraft.charge_split
    assert split(cost=900, hold=1000, balance=5000, held=1000, overdraft=0) == overdraft.Split(900, 0)  # within: as is
    assert split(cost=9000, hold=1000, balance=5000, held=3000, overdraft=0) == overdraft.Split(3000, 6000)
    assert split(cost=9000, hold=1000, balance=5000, held=3000, overdraft=500) == overdraft.Split(3500, 5500)
    assert split(cost=9000, hold=0, balance=5000, held=3000, overdraft=500) == overdraft.Split(2500, 6500)  # expired
    assert split(cost=9000, hold=0, balance=-100, held=0, overdraft=50) == overdraft.Split(0, 9000)  # already below


def test_the_rule_never_takes_a_wallet_below_the_limit_once_every_hold_settles():
    """Exhaustively over small wallets: this request, then every other hold settling in full, ends at
    or above -overdraft; and a cost within the hold is always charged whole."""
    for balance, mine, others, cost, limit in itertools.product(range(0, 40, 7), range(0, 20, 6), range(0, 20, 9),
                                                                 range(0, 90, 11), (0, 5, 30)):
        if mine + others > balance:
            continue  # a hold is only ever taken on free money
        got = overdraft.charge_split(cost=cost, hold=mine, balance=balance, held=mine + others, overdraft=limit)
        assert got.charged + got.uncharged == cost and got.charged >= 0
        assert balance - got.charged - others >= -limit
        if cost <= mine:
            assert got.charged == cost


def test_usage_far_above_the_hold_is_bounded_recorded_and_alerted(settings):
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 30_000
    settings.ADMINS = [("ops", "ops@example.com")]
    account, _ = make_customer("tiny@example.com", balance="0.01")  # 10_000 micros
    hold = reserve(account, "r1")  # the wallet is short: it holds all of it
    assert hold.amount_micros == 10_000
    result = settle(account, "r1", HUGE)
    assert (result.cost_micros, result.balance_micros) == (40_000, -30_000)
    assert book(account) == (-30_000, 0, [10_000, -40_000], [("r1", 40_000, "charge_capped")])
    [alert] = mail.outbox
    assert "r1" in alert.subject and "2.4601" in alert.body  # 2_500_100 - 40_000 not charged, exactly
    with pytest.raises(services.InsufficientBalance):  # below zero: nothing more is admitted
        reserve(account, "r2", max_output=1)
    assert settle(account, "r1", HUGE).replayed  # and settling again charges nothing more


def test_a_zero_limit_keeps_the_wallet_at_zero(settings):
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 0
    account, _ = make_customer("tiny@example.com", balance="0.01")
    reserve(account, "r1")
    assert settle(account, "r1", HUGE).cost_micros == 10_000
    assert book(account)[:3] == (0, 0, [10_000, -10_000])


def test_a_settlement_that_finds_its_hold_expired_still_charges():
    account, _ = make_customer("a@example.com", balance="1")
    hold = reserve(account, "r1")
    with time_machine.travel(Hold.objects.get(request_id="r1").expires_at + timedelta(seconds=1)):
        assert services.holds_expire() == 1
    assert Wallet.objects.get(account=account).held_micros == 0
    usage = Usage(input_tokens=100, output_tokens=500)  # 5_250 micros, within what was held
    result = settle(account, "r1", usage)
    assert not result.replayed and result.cost_micros == 5_250 < hold.amount_micros
    assert Hold.objects.get(request_id="r1").status == Hold.Status.SETTLED
    assert book(account) == (1_000_000 - 5_250, 0, [1_000_000, -5_250], [("r1", 5_250, "")])
    assert settle(account, "r1", usage).replayed  # once


def test_touch_keeps_an_open_hold_from_the_sweeper():
    account, _ = make_customer("a@example.com", balance="1")
    reserve(account, "r1")
    expires = Hold.objects.get(request_id="r1").expires_at
    with time_machine.travel(expires - timedelta(seconds=1)):
        assert services.hold_touch(request_id="r1", ttl_seconds=60)
    with time_machine.travel(expires + timedelta(seconds=30)):
        assert services.holds_expire() == 0
    settle(account, "r1", Usage(output_tokens=1))
    assert not services.hold_touch(request_id="r1", ttl_seconds=60)  # a closed hold is left alone
