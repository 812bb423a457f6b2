"""发票 requests: the invoiceable amount from the ledger, refusals, the concurrency bound, the console queue."""

import threading
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.urls import reverse

from accounts.models import AuditEntry
from billing import invoices, services
from billing.invoices import InvoiceError
from billing.models import InvoiceRequest, LedgerEntry
from billing.pricing import PriceSnapshot, Usage
from tests.factories import make_customer

PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):
    settings.HARNMODEL_PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


def charge(account, request_id: str, output_tokens: int) -> int:
    """A real charge: a hold reserved and settled. Returns the micros charged."""
    services.hold_reserve(account_id=account.pk, request_id=request_id, input_tokens=0,
                          max_output_tokens=output_tokens, price=PRICE, ttl_seconds=60)  # fmt: skip
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o")
    services.hold_settle(request_id=request_id, usage=Usage(output_tokens=output_tokens), price=PRICE, facts=facts)
    return -LedgerEntry.objects.get(idempotency_key=f"charge:{request_id}").amount_micros


def customer(balance: str = "100", *, profile: bool = True):
    account, _ = make_customer(f"{uuid.uuid4().hex[:8]}@example.com", balance=balance)
    if profile:
        invoices.profile_save(account_id=account.pk, title="示例科技有限公司", tax_id="91310000MA1XXXXX0X")
    return account


def ask(account, micros: int, kind: str = "normal") -> InvoiceRequest:
    return invoices.request_create(account_id=account.pk, amount_micros=micros, kind=kind, actor="test")


@pytest.mark.django_db
def test_invoiceable_is_charges_net_of_charge_refunds_never_top_ups():
    account = customer("100")  # a credit: not invoiceable
    services.wallet_credit(account_id=account.pk, amount_micros=50_000_000, idempotency_key="t1", kind="topup")
    spent = charge(account, "r1", 1234) + charge(account, "r2", 77)  # 12_340 + 770 micros
    # A charge given back (a resolved dispute) is not consumption; a top-up refund to the card is not either.
    services.wallet_credit(account_id=account.pk, amount_micros=700, idempotency_key="dispute:1", kind="credit")
    services.wallet_credit(account_id=account.pk, amount_micros=-5_000_000, idempotency_key="refund:x", kind="refund")
    services.wallet_adjust(account_id=account.pk, amount_micros=3_000_000, reason="goodwill", actor="op")

    assert spent == 13_110
    assert invoices.consumed_micros(account_id=account.pk) == 13_110 - 700
    assert invoices.invoiceable_micros(account_id=account.pk) == 12_410


@pytest.mark.django_db
def test_pending_and_issued_requests_are_spoken_for_and_a_rejection_frees_its_amount():
    account = customer()
    charge(account, "r1", 100_000)  # 1_000_000 micros
    first = ask(account, 400_000)
    invoices.request_issue(request_id=ask(account, 100_000).pk, pdf=PDF, actor="fay")
    assert invoices.invoiceable_micros(account_id=account.pk) == 500_000

    with pytest.raises(InvoiceError, match="at most ¥0.50") as refused:
        ask(account, 500_001)
    assert refused.value.code == "over"
    invoices.request_reject(request_id=first.pk, reason="wrong title", actor="fay")
    assert invoices.invoiceable_micros(account_id=account.pk) == 900_000
    assert ask(account, 900_000).amount_micros == 900_000
    assert InvoiceRequest.objects.filter(account=account).count() == 3


@pytest.mark.django_db
def test_a_request_needs_a_profile_and_a_special_invoice_needs_its_details():
    account = customer(profile=False)
    charge(account, "r1", 1000)
    with pytest.raises(InvoiceError) as no_profile:
        ask(account, 1)
    invoices.profile_save(account_id=account.pk, title="ACME", tax_id="123")
    with pytest.raises(InvoiceError) as special:
        ask(account, 1, "special")
    with pytest.raises(InvoiceError):
        ask(account, 0)
    with pytest.raises(InvoiceError):
        invoices.profile_save(account_id=account.pk, title="  ")
    assert (no_profile.value.code, special.value.code) == ("no_profile", "special_incomplete")
    invoices.profile_save(account_id=account.pk, title="ACME", tax_id="123", address="上海", bank="ICBC 6222")
    assert ask(account, 1, "special").title == "ACME"


@pytest.mark.django_db
def test_only_a_real_bounded_pdf_is_issued_and_only_once():
    account = customer()
    charge(account, "r1", 1000)
    pending = ask(account, 10_000)
    with pytest.raises(InvoiceError, match="not a PDF"):
        invoices.request_issue(request_id=pending.pk, pdf=b"<html>", actor="fay")
    with pytest.raises(InvoiceError, match="larger"):
        invoices.request_issue(request_id=pending.pk, pdf=PDF + b"0" * invoices.MAX_PDF_BYTES, actor="fay")
    invoices.request_issue(request_id=pending.pk, pdf=PDF, actor="fay")
    with pytest.raises(InvoiceError, match="already issued"):
        invoices.request_reject(request_id=pending.pk, reason="late", actor="fay")
    pending.refresh_from_db()
    assert pending.pdf.read() == PDF
    with pytest.raises(ValueError, match="private"):
        pending.pdf.url  # noqa: B018  (never a public URL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_invoiceable_amount():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency on the wallet's row needs PostgreSQL")
    account = customer()
    charge(account, "r1", 100_000)  # 1_000_000 micros: room for exactly 3 requests of 300_000
    barrier, results = threading.Barrier(12), []

    def one() -> None:
        barrier.wait()
        try:
            ask(account, 300_000)
            results.append("ok")
        except InvoiceError:
            results.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count("ok") == 3
    assert invoices.invoiced_micros(account_id=account.pk) == 900_000
    assert invoices.invoiceable_micros(account_id=account.pk) == 100_000


# --- the console ---------------------------------------------------------------------------------------


def operator(username: str, group: str):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def act_url(invoice) -> str:
    return reverse("admin:billing_invoicerequest_act", args=[invoice.pk])


@pytest.mark.django_db
def test_finance_issues_from_the_queue_the_customer_gets_the_pdf_and_it_is_audited(
    client, django_capture_on_commit_callbacks
):
    account = customer()
    charge(account, "r1", 10_000)
    pending = ask(account, 50_000)
    client.force_login(operator("fay", "finance"))

    queue = client.get(reverse("admin:billing_invoicerequest_changelist") + "?status__exact=requested")
    upload = SimpleUploadedFile("fapiao.pdf", PDF, content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):  # the mail goes out after the commit
        issued = client.post(act_url(pending), {"issue": "1", "pdf": upload}, follow=True)

    assert queue.status_code == 200 and act_url(pending) in queue.content.decode()
    assert issued.status_code == 200 and "the customer was mailed" in issued.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.acted_by) == ("issued", "fay")
    [message] = mail.outbox
    assert message.to == [account.email] and "issued" in message.subject
    assert message.attachments[0][1] == PDF
    audit = AuditEntry.objects.get(action="invoice_issue")
    assert (audit.object_id, audit.before, audit.after["status"]) == (str(pending.pk), {"status": "requested"}, "issued")
    download = client.get(reverse("admin:billing_invoicerequest_pdf", args=[pending.pk]))
    assert b"".join(download.streaming_content) == PDF
    change = client.get(reverse("admin:billing_invoicerequest_change", args=[pending.pk])).content.decode()
    assert reverse("admin:billing_invoicerequest_pdf", args=[pending.pk]) in change and "示例科技有限公司" in change


@pytest.mark.django_db
def test_finance_rejects_with_a_reason_the_customer_reads(client, django_capture_on_commit_callbacks):
    account = customer()
    charge(account, "r1", 10_000)
    invoices.profile_save(account_id=account.pk, title="ACME", email="finance@acme.example")
    pending = ask(account, 50_000)
    client.force_login(operator("fay", "finance"))

    empty = client.post(act_url(pending), {"reject": "1", "reason": ""})
    not_pdf = client.post(act_url(pending), {"issue": "1", "pdf": SimpleUploadedFile("x.pdf", b"MZ\x90\x00")})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(act_url(pending), {"reject": "1", "reason": "税号与抬头不符"})

    assert empty.status_code == 200 and not_pdf.status_code == 200 and "not a PDF" in not_pdf.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.reason) == ("rejected", "税号与抬头不符")
    [message] = mail.outbox
    assert message.to == ["finance@acme.example"] and "税号与抬头不符" in message.body
    assert AuditEntry.objects.get(action="invoice_reject").after["reason"] == "税号与抬头不符"


@pytest.mark.django_db
def test_support_sees_the_queue_but_cannot_act(client):
    account = customer()
    charge(account, "r1", 10_000)
    pending = ask(account, 50_000)
    client.force_login(operator("sam", "support"))

    assert client.get(reverse("admin:billing_invoicerequest_changelist")).status_code == 200
    assert client.get(act_url(pending)).status_code == 403
    assert client.post(act_url(pending), {"reject": "1", "reason": "no"}).status_code == 403
    pending.refresh_from_db()
    assert pending.status == "requested" and not mail.outbox
