"""What the customer reads about a balance change is apart from what staff wrote for themselves:
an adjustment's reason and a code batch's label stay in the console; the Billing page shows the
customer text, or a neutral one."""

import pytest
from django.urls import reverse

from billing import services
from billing.models import LedgerEntry, RedemptionCode
from billing.money import parse_amount
from billing.redemption import code_redeem, redemption_codes_generate

REASON = "goodwill: angry ticket #4411, do not repeat"
BATCH = "leaked-promo-2026-internal"


def _billing(member) -> str:
    return member.client.get(reverse("portal:billing")).content.decode()


def test_an_adjustment_shows_its_customer_text_never_its_reason(alice):
    services.wallet_adjust(account_id=alice.account.pk, amount_micros=5_000_000, reason=REASON, actor="ops")
    body = _billing(alice)
    assert "Balance adjustment" in body and REASON not in body
    services.wallet_adjust(
        account_id=alice.account.pk, amount_micros=1_000_000, reason=REASON, actor="ops",
        description="Compensation for the 3 May outage",
    )  # fmt: skip
    body = _billing(alice)
    assert "Compensation for the 3 May outage" in body and REASON not in body
    entry = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).first()
    assert (entry.note, entry.description) == (REASON, "Compensation for the 3 May outage")


@pytest.mark.parametrize("description, shown", [("", "Redeemed code"), ("Welcome credit from the meetup", None)])
def test_a_redeemed_code_shows_its_customer_text_never_its_batch(alice, description, shown):
    [code] = redemption_codes_generate(
        count=1, amount_micros=parse_amount("5"), expires_at=None, batch=BATCH, created_by="ops",
        description=description,
    )  # fmt: skip
    code_redeem(account_id=alice.account.pk, code=code)
    body = _billing(alice)
    assert (shown or description) in body
    assert BATCH not in body
    assert BATCH in LedgerEntry.objects.get(kind=LedgerEntry.Kind.REDEEM).note  # staff still see it


def test_the_chinese_billing_page_translates_the_neutral_text(alice):
    services.wallet_adjust(account_id=alice.account.pk, amount_micros=5_000_000, reason=REASON, actor="ops")
    alice.client.cookies["django_language"] = "zh-hans"
    body = _billing(alice)
    assert "余额调整" in body and REASON not in body


def test_customer_texts_are_bounded(alice):
    with pytest.raises(ValueError):
        services.wallet_adjust(account_id=alice.account.pk, amount_micros=1, reason="r", actor="ops",
                               description="x" * 201)  # fmt: skip
    with pytest.raises(ValueError):
        redemption_codes_generate(count=1, amount_micros=1, expires_at=None, batch="b", created_by="ops",
                                  description="x" * 201)  # fmt: skip


def test_the_console_forms_take_both_texts(admin_client, alice):
    adjust = reverse("admin:accounts_account_adjust_balance", args=[alice.account.pk])
    admin_client.post(adjust, {"amount": "2", "reason": REASON, "description": "Thanks for your patience"})
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.ADJUST)
    assert (entry.note, entry.description) == (REASON, "Thanks for your patience")
    ledger = admin_client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk])).content.decode()
    assert REASON in ledger and "Thanks for your patience" in ledger

    generate = reverse("admin:billing_redemptioncode_generate")
    page = admin_client.get(generate)
    nonce = page.context["form"]["nonce"].value()
    admin_client.post(generate, {"count": "2", "amount": "3", "batch": BATCH, "description": "Spring promo",
                                 "nonce": nonce})  # fmt: skip
    assert set(RedemptionCode.objects.values_list("batch", "description")) == {(BATCH, "Spring promo")}
