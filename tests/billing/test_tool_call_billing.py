"""Hosted-tool calls in the hold and the settlement, on whichever path the database takes (the locked path or the single statement)."""

import pytest

from billing import services
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage, charge_micros
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)  # outside a transaction PostgreSQL takes the single statement
PRICE = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000, tool_call_micros=(("web_search", 25_000),))


def reserve(account, request_id, *, max_output=1000, tool_micros=0):
    return services.hold_reserve(
        account_id=account.pk, request_id=request_id, input_tokens=100, max_output_tokens=max_output,
        price=PRICE, ttl_seconds=60, tool_micros=tool_micros,
    )  # fmt: skip


def test_the_hold_covers_the_tool_calls_and_the_settlement_charges_those_made():
    account, _ = make_customer("a@example.com", balance="1")
    reservation = reserve(account, "r1", tool_micros=3 * 25_000)
    assert reservation.amount_micros == 250 + 10_000 + 75_000 and reservation.output_cap == 1000
    usage = Usage(input_tokens=100, output_tokens=400, tool_calls=(("web_search", 2),))
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o")
    settlement = services.hold_settle(request_id="r1", usage=usage, price=PRICE, facts=facts)
    assert settlement.cost_micros == charge_micros(Usage(input_tokens=100, output_tokens=400), PRICE) + 50_000
    record = UsageRecord.objects.get(request_id="r1")
    assert record.tool_calls == {"web_search": 2} and record.cost_micros == settlement.cost_micros
    assert LedgerEntry.objects.get(request_id="r1").amount_micros == -settlement.cost_micros
    wallet = Wallet.objects.get(account=account)
    assert wallet.held_micros == 0 and wallet.balance_micros == 1_000_000 - settlement.cost_micros
    assert Hold.objects.get(request_id="r1").status == Hold.Status.SETTLED


def test_a_short_wallet_holds_the_tool_calls_whole_and_caps_the_output():
    account, _ = make_customer("b@example.com", balance="0.1")  # 100 000 micros
    reservation = reserve(account, "r2", max_output=128_000, tool_micros=75_000)
    assert reservation.output_cap == ((100_000 - 75_000) * 1_000_000 - 100 * 2_500_000) // 10_000_000
    assert 75_000 < reservation.amount_micros <= 100_000
    poorer, _ = make_customer("c@example.com", balance="0.05")
    with pytest.raises(services.InsufficientBalance):  # the calls alone are more than the wallet holds
        reserve(poorer, "r3", tool_micros=60_000)
    assert Wallet.objects.get(account=poorer).held_micros == 0
