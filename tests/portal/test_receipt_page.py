"""The portal's receipt page: a usage row links to its receipt, shown and verified (signature and ledger),
with **Dispute this charge**; the dispute's outcome shows there and a refund on the Billing page."""

import pytest
from django.urls import reverse

from billing.disputes import dispute_refund
from billing.models import Dispute, LedgerEntry, Receipt
from billing.pricing import Usage
from gateway.receipts import claims, keys
from gateway.receipts.jws import sign
from tests.billing.test_invoices import charge


@pytest.fixture(autouse=True)
def _fresh_signer():
    keys.forget()
    yield
    keys.forget()


def billed(member, request_id: str) -> str:
    """A real charge (hold reserved and settled) and the receipt the relay would have sent and kept for it."""
    charge(member.account, request_id, 10_000)
    entry = LedgerEntry.objects.get(idempotency_key=f"charge:{request_id}")
    signer = keys.signer_sync()
    receipt = sign(claims.claims(request_id=request_id, account_id=member.account.pk, key_prefix="sk-test",
                                 door="chat", model="gpt-4o", price_id=None, usage=Usage(output_tokens=10_000),
                                 estimated=False, cost_micros=-entry.amount_micros,
                                 balance_micros=entry.balance_after_micros), signer)  # fmt: skip
    Receipt.objects.create(request_id=request_id, account=member.account, kid=signer.kid, jws=receipt)
    return receipt


def page(member, request_id: str, **headers) -> str:
    answer = member.client.get(reverse("portal:usage_receipt", args=[request_id]), headers=headers)
    assert answer.status_code == 200
    return answer.content.decode()


def test_a_usage_row_links_to_its_verified_receipt(alice):
    receipt = billed(alice, "req_r1")
    usage = alice.client.get(reverse("portal:usage")).content.decode()
    shown = page(alice, "req_r1")
    assert reverse("portal:usage_receipt", args=["req_r1"]) in usage
    assert receipt in shown and "Signature valid; the ledger holds this charge." in shown
    assert "charge:req_r1" in shown and "Dispute this charge" in shown


def test_a_receipt_that_does_not_verify_says_so(alice):
    receipt = billed(alice, "req_r2")
    head, payload, signature = receipt.split(".")
    Receipt.objects.filter(request_id="req_r2").update(jws=f"{head}.{payload[:-4]}AAAA.{signature}")
    shown = page(alice, "req_r2")
    assert "This receipt does not verify" in shown and "Dispute this charge" in shown


def test_dispute_from_the_receipt_page_then_the_refund_shows(alice):
    billed(alice, "req_r3")
    url = reverse("portal:usage_dispute", args=["req_r3"])
    empty = alice.client.post(url, {"reason": ""})
    assert empty.status_code == 400 and not Dispute.objects.exists()
    sent = alice.client.post(url, {"reason": "这次请求没有返回内容"}, follow=True)
    again = alice.client.post(url, {"reason": "again"})

    assert again.status_code == 400 and Dispute.objects.count() == 1
    dispute = Dispute.objects.get(request_id="req_r3")
    assert (dispute.account_id, dispute.reason, dispute.requested_by) == (
        alice.account.pk, "这次请求没有返回内容", "alice@example.com")
    assert "Your dispute was sent" in sent.content.decode() and "Your dispute is open" in sent.content.decode()
    dispute_refund(dispute_id=dispute.pk, actor="fay")
    assert "went back to your balance" in page(alice, "req_r3")
    assert "Refund of a disputed charge" in alice.client.get(reverse("portal:billing")).content.decode()


def test_another_accounts_receipt_is_a_404(alice, bob):
    billed(alice, "req_r4")
    assert bob.client.get(reverse("portal:usage_receipt", args=["req_r4"])).status_code == 404
    assert bob.client.post(reverse("portal:usage_dispute", args=["req_r4"]), {"reason": "x"}).status_code == 404
    assert not Dispute.objects.exists()


def test_the_receipt_page_speaks_chinese(alice):
    billed(alice, "req_r5")
    shown = page(alice, "req_r5", **{"accept-language": "zh-hans"})
    assert "对此扣费提出异议" in shown and "签名有效" in shown


def test_the_docs_page_has_the_verification_samples(client, db):
    page = client.get(reverse("portal:docs")).content.decode()
    assert "def verify_receipt" in page and "function verifyReceipt" in page
    assert "https://your-gateway" not in page and "/.well-known/harnmodel-receipts.json" in page
    zh = client.get(reverse("portal:docs"), headers={"accept-language": "zh-hans"}).content.decode()
    assert "签名收据" in zh and "每个计费的回答都附带一张收据" in zh
