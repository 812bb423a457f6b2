import pytest

from billing import services
from billing.models import Hold, ImmutableRowError, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage
from billing.selectors import wallet_summary
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


def facts(account):
    return services.RequestFacts(account_id=account.pk, model_id="gpt-4o")


def reserve(account, request_id, *, input_tokens=100, max_output=1000):
    return services.hold_reserve(
        account_id=account.pk, request_id=request_id, input_tokens=input_tokens, max_output_tokens=max_output,
        price=PRICE, ttl_seconds=60,
    )


def test_reserve_holds_the_worst_case():
    account, _ = make_customer("a@example.com", balance="1")
    reservation = reserve(account, "r1")
    assert reservation.amount_micros == 250 + 10_000
    assert reservation.output_cap == 1000
    assert Wallet.objects.get(account=account).held_micros == reservation.amount_micros


def test_reserve_caps_output_when_the_wallet_is_short():
    account, _ = make_customer("a@example.com", balance="0.005")  # 5000 micros
    reservation = reserve(account, "r1", input_tokens=100, max_output=128_000)
    assert reservation.output_cap == (5000 * 1_000_000 - 100 * 2_500_000) // 10_000_000
    assert reservation.amount_micros <= 5000


def test_reserve_refuses_an_empty_wallet_and_writes_nothing():
    account, _ = make_customer("b@example.com", balance="0")
    with pytest.raises(services.InsufficientBalance):
        reserve(account, "r1")
    assert not Hold.objects.exists()
    assert Wallet.objects.get(account=account).held_micros == 0


def test_settle_charges_usage_releases_hold_and_records_usage():
    account, _ = make_customer("a@example.com", balance="1")
    reserve(account, "r1")
    result = services.hold_settle(request_id="r1", usage=Usage(input_tokens=100, output_tokens=50), price=PRICE,
                                  facts=facts(account))
    assert result.cost_micros == 250 + 500
    summary = wallet_summary(account_id=account.pk)
    assert summary["balance_micros"] == 1_000_000 - 750 == summary["ledger_sum_micros"]
    assert summary["held_micros"] == 0 == summary["open_holds_micros"]
    record = UsageRecord.objects.get(request_id="r1")
    assert (record.input_tokens, record.output_tokens, record.cost_micros) == (100, 50, 750)
    assert Hold.objects.get(request_id="r1").status == Hold.Status.SETTLED


def test_settle_is_idempotent():
    account, _ = make_customer("a@example.com", balance="1")
    reserve(account, "r1")
    usage = Usage(input_tokens=100, output_tokens=50)
    first = services.hold_settle(request_id="r1", usage=usage, price=PRICE, facts=facts(account))
    second = services.hold_settle(request_id="r1", usage=usage, price=PRICE, facts=facts(account))
    assert second.replayed and second.cost_micros == first.cost_micros
    assert LedgerEntry.objects.filter(kind="charge").count() == 1
    assert UsageRecord.objects.count() == 1
    assert Wallet.objects.get(account=account).balance_micros == 1_000_000 - 750


def test_settle_without_usage_charges_nothing():
    account, _ = make_customer("a@example.com", balance="1")
    reserve(account, "r1")
    services.hold_settle(request_id="r1", usage=None, price=PRICE, facts=facts(account))
    assert Hold.objects.get(request_id="r1").status == Hold.Status.RELEASED
    assert not LedgerEntry.objects.filter(kind="charge").exists()
    assert wallet_summary(account_id=account.pk)["balance_micros"] == 1_000_000


def test_settle_never_charges_into_other_holds(settings):
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 0  # with an overdraft, see tests/billing/test_overdraft.py
    account, _ = make_customer("a@example.com", balance="0.02")  # 20_000 micros
    reserve(account, "r1", input_tokens=0, max_output=1000)  # holds 10_000
    reserve(account, "r2", input_tokens=0, max_output=1000)  # holds 10_000
    huge = Usage(input_tokens=0, output_tokens=5000)  # 50_000 micros: more than anyone reserved
    result = services.hold_settle(request_id="r1", usage=huge, price=PRICE, facts=facts(account))
    assert result.cost_micros == 10_000
    assert UsageRecord.objects.get(request_id="r1").error_code == "charge_capped"
    services.hold_settle(request_id="r2", usage=Usage(output_tokens=1000), price=PRICE, facts=facts(account))
    assert Wallet.objects.get(account=account).balance_micros == 0


def test_wallet_credit_is_idempotent_per_key():
    account, _ = make_customer("a@example.com")
    services.wallet_credit(account_id=account.pk, amount_micros=5, idempotency_key="topup:evt1")
    services.wallet_credit(account_id=account.pk, amount_micros=5, idempotency_key="topup:evt1")
    assert Wallet.objects.get(account=account).balance_micros == 5
    assert LedgerEntry.objects.filter(idempotency_key="topup:evt1").count() == 1


def test_negative_adjustment_cannot_overdraw():
    account, _ = make_customer("a@example.com", balance="1")
    with pytest.raises(services.InsufficientBalance):
        services.wallet_credit(account_id=account.pk, amount_micros=-2_000_000, idempotency_key="adjust:x", kind="adjust")
    assert Wallet.objects.get(account=account).balance_micros == 1_000_000


def test_ledger_rows_cannot_be_edited_or_deleted():
    account, _ = make_customer("a@example.com", balance="1")
    entry = LedgerEntry.objects.get(wallet__account=account)
    entry.note = "changed"
    with pytest.raises(ImmutableRowError):
        entry.save()
    with pytest.raises(ImmutableRowError):
        entry.delete()


def test_sweeper_releases_expired_holds_only():
    from django.utils import timezone

    account, _ = make_customer("a@example.com", balance="1")
    reserve(account, "old")
    reserve(account, "new")
    Hold.objects.filter(request_id="old").update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert services.holds_expire() == 1
    assert Hold.objects.get(request_id="old").status == Hold.Status.EXPIRED
    assert Hold.objects.get(request_id="new").status == Hold.Status.OPEN
    summary = wallet_summary(account_id=account.pk)
    assert summary["held_micros"] == summary["open_holds_micros"]
    assert services.holds_expire() == 0
