"""Account A can neither read nor change anything of account B through any portal URL.

Bob's objects (key, usage record, ledger entry, invitation, membership) are addressed by id through
Alice's session; every read must come back without Bob's data, every write must 404 and change nothing.
"""

import pytest
from django.urls import get_resolver, reverse
from django.utils import timezone

from accounts.models import Invitation, Membership
from billing.models import LedgerEntry, UsageRecord, Wallet
from gateway.models import ApiKey

BOB_MARKERS = ("bob@example.com", "bob-secret-key", "bob-request-1", "bob-ledger-note", "bob-secret-project")


@pytest.fixture
def bobs(bob, django_capture_on_commit_callbacks):
    from accounts import projects
    from accounts.portal import services

    key = ApiKey.objects.get(account=bob.account)
    project = projects.project_create(account_id=bob.account.pk, name="bob-secret-project")
    ApiKey.objects.filter(pk=key.pk).update(name="bob-secret-key")
    UsageRecord.objects.create(request_id="bob-request-1", account=bob.account, api_key=key, model_id="gpt-4o",
                               status=200, cost_micros=777)  # fmt: skip
    from billing.services import wallet_credit

    wallet_credit(account_id=bob.account.pk, amount_micros=5, idempotency_key="bob:1", note="bob-ledger-note")
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(account_id=bob.account.pk, email="friend@example.com", role="member",
                                                invited_by=bob.user, site_url="http://testserver")  # fmt: skip
    return {
        "key": key,
        "invitation": invitation,
        "membership": Membership.objects.get(account=bob.account, user=bob.user),
        "ledger": LedgerEntry.objects.filter(wallet__account=bob.account).count(),
        "wallet": Wallet.objects.get(account=bob.account),
        "project": project,
    }


def _assert_no_bob(response):
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    for marker in BOB_MARKERS:
        assert marker not in text, marker


READ_URLS = [
    ("portal:dashboard", [], {}),
    ("portal:keys", [], {}),
    ("portal:key_create", [], {}),
    ("portal:projects", [], {}),
    ("portal:usage", [], {}),
    ("portal:usage", [], {"key": "BOBKEY"}),
    ("portal:usage", [], {"model": "gpt-4o", "status": "ok"}),
    ("portal:usage_export", [], {}),
    ("portal:usage_export", [], {"key": "BOBKEY"}),
    ("portal:billing", [], {}),
    ("portal:account", [], {}),
    ("portal:playground", [], {}),
    ("portal:invoices", [], {}),
    ("portal:autotopup", [], {}),
    ("portal:statement_csv", [timezone.now().year, timezone.now().month], {}),
    ("portal:statement_pdf", [timezone.now().year, timezone.now().month], {}),
]


@pytest.mark.parametrize(("name", "args", "query"), READ_URLS)
def test_reads_show_only_the_current_account(alice, bobs, name, args, query):
    foreign_key = "BOBKEY" in query.values()
    query = {k: (bobs["key"].pk if v == "BOBKEY" else v) for k, v in query.items()}
    response = alice.client.get(reverse(name, args=args), query)
    assert response.status_code == (400 if foreign_key else 200)  # another account's key is no valid filter
    _assert_no_bob(response)


def test_usage_filtered_by_bobs_key_is_empty(alice, bobs):
    response = alice.client.get(reverse("portal:usage"), {"key": bobs["key"].pk})
    assert response.context["page"].rows == []


def test_bobs_request_json_is_a_404(alice, bobs):
    assert alice.client.get(reverse("portal:usage_record", args=["bob-request-1"])).status_code == 404


def test_bobs_receipt_cannot_be_seen_or_disputed(alice, bobs):
    from billing.models import Dispute

    assert alice.client.get(reverse("portal:usage_receipt", args=["bob-request-1"])).status_code == 404
    answer = alice.client.post(reverse("portal:usage_dispute", args=["bob-request-1"]), {"reason": "not mine"})
    assert answer.status_code == 404 and not Dispute.objects.exists()


def test_bobs_key_cannot_be_shown_or_revoked(alice, bobs):
    key = bobs["key"]
    assert alice.client.get(reverse("portal:key_created", args=[key.pk])).status_code == 404
    assert alice.client.get(reverse("portal:key_revoke", args=[key.pk])).status_code == 404
    assert alice.client.post(reverse("portal:key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_bobs_invitation_and_members_cannot_be_touched(alice, bobs):
    invitation, membership = bobs["invitation"], bobs["membership"]
    assert alice.client.post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 404
    assert alice.client.post(reverse("portal:member_remove", args=[membership.pk])).status_code == 404
    assert Invitation.objects.get(pk=invitation.pk).is_pending
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_bobs_projects_and_member_budgets_cannot_be_touched(alice, bobs):
    from accounts.models import Project

    project, membership = bobs["project"], bobs["membership"]
    assert alice.client.get(reverse("portal:project_edit", args=[project.pk])).status_code == 404
    assert alice.client.post(reverse("portal:project_edit", args=[project.pk]), {"name": "x"}).status_code == 404
    assert alice.client.post(reverse("portal:project_delete", args=[project.pk])).status_code == 404
    assert alice.client.post(reverse("portal:member_budget", args=[membership.pk]),
                             {"budget_daily": "1"}).status_code == 404  # fmt: skip
    alice.client.post(reverse("portal:project_create"), {"name": "bob-secret-project-2", "account": project.account_id})
    assert Project.objects.get(name="bob-secret-project-2").account_id == alice.account.pk
    assert Project.objects.get(pk=project.pk).name == "bob-secret-project"
    assert Membership.objects.get(pk=membership.pk).budget_daily_micros is None


def test_cannot_switch_into_bobs_account(alice, bobs, bob):
    response = alice.client.post(reverse("portal:account_switch"), {"account": bob.account.pk})
    assert response.status_code == 404
    _assert_no_bob(alice.client.get(reverse("portal:dashboard")))


def test_writes_only_ever_touch_the_current_account(alice, bobs, bob):
    alice.client.post(reverse("portal:threshold"), {"threshold": "1"})
    alice.client.post(reverse("portal:account_rename"), {"name": "renamed"})
    alice.client.post(reverse("portal:key_create"), {"name": "new"})
    bob.account.refresh_from_db()
    assert bob.account.name == "bob"
    assert Wallet.objects.get(account=bob.account).low_balance_threshold_micros is None
    assert ApiKey.objects.filter(account=bob.account).count() == 1
    assert LedgerEntry.objects.filter(wallet__account=bob.account).count() == bobs["ledger"]


def test_auto_top_up_reads_and_writes_stay_home(alice, bobs, bob):
    """Bob's saved card, settings and attempts never show on Alice's page, and her writes never reach them
    (the card's own setup return is checked against its session in test_autotopup)."""
    from billing.autotopup_models import AutoTopUp, AutoTopUpAttempt
    from billing.models import TopUpOrder

    AutoTopUp.objects.create(account=bob.account, enabled=True, threshold_micros=7_770_000, amount_micros=99_990_000,
                             stripe_customer_id="cus_bob", stripe_payment_method_id="pm_bob", card_brand="bobcard",
                             card_last4="9999")  # fmt: skip
    order = TopUpOrder.objects.create(account=bob.account, provider="stripe", amount_micros=99_990_000, currency="CNY")
    AutoTopUpAttempt.objects.create(account=bob.account, order=order, amount_micros=99_990_000, balance_micros=1,
                                    threshold_micros=7_770_000, last_error="bob-decline")  # fmt: skip
    page = alice.client.get(reverse("portal:autotopup")).content.decode()
    assert "9999" not in page and "bob-decline" not in page and "99.99" not in page and "bobcard" not in page.lower()
    alice.client.post(reverse("portal:autotopup_save"), {"threshold": "1", "amount": "10", "account": bob.account.pk})
    alice.client.post(reverse("portal:autotopup_card_remove"), {"account": bob.account.pk})
    kept = AutoTopUp.objects.get(account=bob.account)
    assert (kept.enabled, kept.threshold_micros, kept.stripe_payment_method_id) == (True, 7_770_000, "pm_bob")


def test_bobs_invoice_cannot_be_downloaded_and_invoice_writes_stay_home(alice, bobs, bob, settings, tmp_path):
    from billing import invoices
    from billing.services import wallet_credit

    settings.HARNMODEL_PRIVATE_MEDIA_ROOT = str(tmp_path)
    wallet_credit(account_id=bob.account.pk, amount_micros=-5, idempotency_key="charge:bob-1", kind="charge")
    invoices.profile_save(account_id=bob.account.pk, title="bob-title")
    pending = invoices.request_create(account_id=bob.account.pk, amount_micros=5, kind="normal", actor="bob")
    invoices.request_issue(request_id=pending.pk, pdf=b"%PDF-bob", actor="fay")
    assert alice.client.get(reverse("portal:invoice_pdf", args=[pending.pk])).status_code == 404
    alice.client.post(reverse("portal:invoice_profile"), {"title": "alice-title", "account": bob.account.pk})
    assert invoices.profile_of(account_id=bob.account.pk).title == "bob-title"
    assert invoices.profile_of(account_id=alice.account.pk).title == "alice-title"


def _point_session_at(member, account_id):
    """A session forged (or stale) to name another account: access.resolve must ignore it."""
    session = member.client.session
    session["portal_account_id"] = account_id
    session.save()


def test_redeem_credits_only_the_current_account(alice, bobs, bob):
    from billing.money import parse_amount
    from billing.redemption import redemption_codes_generate

    [code] = redemption_codes_generate(count=1, amount_micros=parse_amount("7"), expires_at=None, batch="iso",
                                       created_by="test")  # fmt: skip
    _point_session_at(alice, bob.account.pk)
    before = Wallet.objects.get(account=alice.account).balance_micros
    response = alice.client.post(reverse("portal:redeem"), {"code": code, "account": bob.account.pk})
    assert response.status_code == 302
    assert Wallet.objects.get(account=alice.account).balance_micros == before + 7_000_000
    assert Wallet.objects.get(account=bob.account).balance_micros == bobs["wallet"].balance_micros
    assert LedgerEntry.objects.filter(wallet__account=bob.account).count() == bobs["ledger"]


def test_bobs_redeemed_code_is_no_use_to_alice(alice, bobs, bob):
    from billing.money import parse_amount
    from billing.redemption import redemption_codes_generate

    [code] = redemption_codes_generate(count=1, amount_micros=parse_amount("3"), expires_at=None, batch="iso",
                                       created_by="test")  # fmt: skip
    assert bob.client.post(reverse("portal:redeem"), {"code": code}).status_code == 302
    before = Wallet.objects.get(account=alice.account).balance_micros
    assert alice.client.post(reverse("portal:redeem"), {"code": code}).status_code == 400
    assert Wallet.objects.get(account=alice.account).balance_micros == before


def test_topup_is_always_for_the_current_account(alice, bobs, bob, settings, monkeypatch):
    from types import SimpleNamespace

    from accounts.portal import billing_hooks

    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_x"
    calls = []
    monkeypatch.setattr(billing_hooks, "topup_start", lambda **kw: calls.append(kw) or SimpleNamespace(
        redirect_url="https://checkout.stripe.test/c/1", qr_code="", order=None))  # fmt: skip
    _point_session_at(alice, bob.account.pk)
    response = alice.client.post(reverse("portal:topup"), {"preset": "100", "account_id": bob.account.pk})
    assert response.status_code == 302
    assert [c["account_id"] for c in calls] == [alice.account.pk]


def test_invitation_create_invites_only_into_the_current_account(alice, bobs, bob, django_capture_on_commit_callbacks):
    _point_session_at(alice, bob.account.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.client.post(
            reverse("portal:invitation_create"),
            {"email": "eve@example.com", "role": "owner", "account": bob.account.pk},
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="eve@example.com")
    assert invitation.account_id == alice.account.pk
    assert list(Invitation.objects.filter(account=bob.account)) == [bobs["invitation"]]
    _assert_no_bob(alice.client.get(reverse("portal:account")))


def test_a_member_cannot_revoke_an_invitation(alice, mallory, django_capture_on_commit_callbacks):
    from accounts.portal import services

    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(account_id=alice.account.pk, email="gus@example.com", role="member",
                                                invited_by=alice.user, site_url="http://testserver")  # fmt: skip
    assert mallory.client.post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 403
    assert Invitation.objects.get(pk=invitation.pk).is_pending
    assert alice.client.post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 302
    assert not Invitation.objects.get(pk=invitation.pk).is_pending


def test_every_portal_url_is_covered_here():
    """A new portal URL must be added to the isolation tests (or to PUBLIC below) consciously."""
    covered = {name.split(":")[1] for name, _, _ in READ_URLS} | {
        "usage_record", "usage_receipt", "usage_dispute", "key_created", "key_revoke", "invitation_revoke", "member_remove", "account_switch",
        "threshold", "account_rename", "key_create", "redeem", "topup", "invitation_create", "topup_qr", "topup_status",
        "management_keys", "management_key_create", "management_key_revoke",
        "invoice_profile", "invoice_request", "invoice_pdf",
        "autotopup_save", "autotopup_card", "autotopup_card_remove",

        "project_create", "project_edit", "project_delete", "member_budget",
    }  # fmt: skip
    public = {
        "home", "signup", "signup_done", "signup_resend", "signup_confirm", "login", "logout", "password_reset",
        "password_reset_done", "password_reset_confirm", "password_reset_complete", "password_change",
        "password_change_done", "invitation_accept", "models", "docs", "docs_door", "docs_agents",
    }  # fmt: skip
    names = {name for name in get_resolver().namespace_dict["portal"][1].reverse_dict if isinstance(name, str)}
    assert names == covered | public, names ^ (covered | public)


def test_bobs_management_keys_are_neither_listed_nor_revocable(alice, bob):
    from accounts.api.services import management_key_issue
    from accounts.models import ManagementKey

    key, _ = management_key_issue(account_id=bob.account.pk, user=bob.user, name="bob-mk")
    page = alice.client.get(reverse("portal:management_keys")).content.decode()
    assert key.prefix not in page and "bob-mk" not in page
    assert alice.client.post(reverse("portal:management_key_revoke", args=[key.pk])).status_code == 404
    assert ManagementKey.objects.get(pk=key.pk).revoked_at is None
    created = alice.client.post(reverse("portal:management_key_create"), {"name": "mine", "account": bob.account.pk})
    assert created.status_code == 200
    assert ManagementKey.objects.get(name="mine").account_id == alice.account.pk
