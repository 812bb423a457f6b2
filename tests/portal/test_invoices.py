"""The portal's Invoices page: the profile, requests, the issued PDF and monthly statements, per account."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import invoices, services
from billing.models import InvoiceRequest

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):
    settings.HARNMODEL_PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


def spend(member, micros: int, key: str = "c1") -> None:
    services.wallet_credit(account_id=member.account.pk, amount_micros=-micros, idempotency_key=f"charge:{key}",
                           kind="charge")  # fmt: skip


def issued(member, micros: int) -> InvoiceRequest:
    invoices.profile_save(account_id=member.account.pk, title="ACME")
    pending = invoices.request_create(account_id=member.account.pk, amount_micros=micros, kind="normal", actor="t")
    return invoices.request_issue(request_id=pending.pk, pdf=PDF, actor="fay").invoice


def test_billing_links_to_invoices_and_the_page_shows_what_can_be_invoiced(alice):
    spend(alice, 2_500_123)
    billing = alice.client.get(reverse("portal:billing")).content.decode()
    page = alice.client.get(reverse("portal:invoices"))

    assert reverse("portal:invoices") in billing
    assert page.status_code == 200
    assert 'data-testid="invoiceable">¥2.500123' in page.content.decode()  # the ¥100 credit is not invoiceable


def test_an_owner_saves_the_profile_and_requests_an_invoice(alice):
    spend(alice, 5_000_000)
    saved = alice.client.post(reverse("portal:invoice_profile"), {"title": "示例科技有限公司", "tax_id": "9131XX"})
    asked = alice.client.post(reverse("portal:invoice_request"), {"amount": "3.5", "kind": "normal"}, follow=True)
    over = alice.client.post(reverse("portal:invoice_request"), {"amount": "1.500001", "kind": "normal"})

    assert saved.status_code == 302
    request = InvoiceRequest.objects.get(account=alice.account)
    assert (request.amount_micros, request.title, request.tax_id, request.status) == (
        3_500_000, "示例科技有限公司", "9131XX", "requested")
    assert "示例科技有限公司" in asked.content.decode()
    assert over.status_code == 400 and "At most ¥1.50" in over.content.decode()
    assert InvoiceRequest.objects.filter(account=alice.account).count() == 1


def test_errors_are_in_the_customers_language(alice):
    spend(alice, 1_000_000)
    response = alice.client.post(reverse("portal:invoice_request"), {"amount": "1", "kind": "normal"},
                                 headers={"accept-language": "zh-hans"})  # fmt: skip
    bad = alice.client.post(reverse("portal:invoice_request"), {"amount": "abc", "kind": "fake"})

    assert response.status_code == 400 and "请先保存开票信息。" in response.content.decode()
    assert bad.status_code == 400 and not InvoiceRequest.objects.exists()


def test_a_plain_member_sees_the_page_but_cannot_request(alice, mallory):
    spend(alice, 1_000_000)
    assert mallory.client.get(reverse("portal:invoices")).status_code == 200
    assert mallory.client.post(reverse("portal:invoice_profile"), {"title": "X"}).status_code == 403
    assert mallory.client.post(reverse("portal:invoice_request"), {"amount": "1", "kind": "normal"}).status_code == 403


def test_the_issued_pdf_downloads_for_its_account_only(alice, bob, mallory):
    spend(alice, 1_000_000)
    invoice = issued(alice, 1_000_000)
    url = reverse("portal:invoice_pdf", args=[invoice.pk])

    mine = alice.client.get(url)
    assert mine.status_code == 200 and b"".join(mine.streaming_content) == PDF
    assert mine["Content-Type"] == "application/pdf" and "no-store" in mine["Cache-Control"]
    assert mallory.client.get(url).status_code == 200  # a member of the same account
    assert bob.client.get(url).status_code == 404  # another account: as if it did not exist
    assert url in alice.client.get(reverse("portal:invoices")).content.decode()


def test_statements_download_as_csv_and_pdf_for_the_session_account_only(alice, bob):
    spend(alice, 1_234_567, "a1")
    spend(bob, 7, "b1")
    now = timezone.localdate()
    args = [now.year, now.month]

    alice_csv = alice.client.get(reverse("portal:statement_csv", args=args))
    bob_csv = bob.client.get(reverse("portal:statement_csv", args=args))
    alice_pdf = alice.client.get(reverse("portal:statement_pdf", args=args))

    rows = list(csv.DictReader(io.StringIO(b"".join(alice_csv.streaming_content).decode())))
    entries = [r for r in rows if r["row"] == "entry"]
    assert [r["amount_micros"] for r in entries] == ["100000000", "-1234567"]  # the ¥100 credit, the charge
    bob_rows = list(csv.DictReader(io.StringIO(b"".join(bob_csv.streaming_content).decode())))
    assert [r["amount_micros"] for r in bob_rows if r["row"] == "entry"] == ["100000000", "-7"]
    assert alice_pdf.status_code == 200 and alice_pdf.content.startswith(b"%PDF-")
    assert alice.client.get(reverse("portal:statement_csv", args=[now.year, 13])).status_code == 404
    malformed = reverse("portal:statement_csv", args=[2026, 1]).replace("2026-1.csv", "2026-1x.csv")
    assert alice.client.get(malformed).status_code == 404


def test_signed_out_visitors_get_nothing(client, alice):
    spend(alice, 1)
    invoice = issued(alice, 1)
    for url in (reverse("portal:invoices"), reverse("portal:invoice_pdf", args=[invoice.pk]),
                reverse("portal:statement_csv", args=[2026, 1])):  # fmt: skip
        assert client.get(url).status_code == 302
