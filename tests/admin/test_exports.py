"""Console CSV exports of the ledger, usage records and top-up orders: the filtered list, exact money,
defused formulas, the view permission, streaming, the audit trail and a bounded number of queries."""

import csv
import io
from datetime import UTC, timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from billing import services as billing_services
from billing.exports import cell, money
from billing.models import LedgerEntry, TopUpOrder, UsageRecord
from tests.factories import make_customer

LEDGER_EXPORT = "admin:billing_ledgerentry_export"
USAGE_EXPORT = "admin:billing_usagerecord_export"


@pytest.fixture
def alice(db):
    account, _ = make_customer("alice@example.com", balance="100")
    return account


@pytest.fixture
def bob(db):
    account, _ = make_customer("bob@example.com", balance="50")
    return account


def _adjust(account, amount_micros: int, note: str) -> LedgerEntry:
    return billing_services.wallet_adjust(account_id=account.pk, amount_micros=amount_micros, reason=note, actor="t")


def _rows(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse), type(response)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _usage(account, request_id: str, *, status: int = 200, cost_micros: int = 1000, **fields) -> UsageRecord:
    return UsageRecord.objects.create(
        request_id=request_id, account=account, model_id="gpt-4o", status=status, cost_micros=cost_micros, **fields
    )


def test_money_is_exact_and_formulas_are_defused():
    assert money(12_345_600) == money(12_345_600) and str(money(12_345_600)) == "12.345600"
    assert cell(money(-1_234)) == "-0.001234"  # a computed negative number is not a formula
    assert cell(money(0)) == "0.000000"
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx"):
        assert cell(text) == "'" + text
    assert cell("plain") == "plain" and cell(None) == "" and cell(True) == "true"


def test_the_button_exports_exactly_the_filtered_rows(admin_client, alice, bob):
    wanted = [_adjust(alice, -2_345_678, "goodwill back"), _adjust(alice, 5_000_000, "goodwill")]
    _adjust(alice, 1_000_000, "other")  # excluded by the search
    _adjust(bob, 7_000_000, "goodwill")  # excluded by the customer filter
    query = {"kind__exact": "adjust", "customer": "ALICE@example.com", "q": "goodwill"}
    rows = _rows(admin_client.get(reverse(LEDGER_EXPORT), query))
    assert sorted(int(r["id"]) for r in rows) == sorted(e.pk for e in wanted)
    by_id = {int(r["id"]): r for r in rows}
    first = by_id[wanted[0].pk]
    assert (first["amount"], first["amount_micros"]) == ("-2.345678", "-2345678")
    assert (first["balance_after"], first["balance_after_micros"]) == ("97.654322", "97654322")
    assert first["currency"] == "CNY" and first["account_email"] == "alice@example.com"
    assert first["created_at"] == wanted[0].created_at.astimezone(UTC).isoformat()
    assert first["created_at"].endswith("+00:00")
    # The same filter by account id gives the same rows.
    rows_by_id = _rows(admin_client.get(reverse(LEDGER_EXPORT), {**query, "customer": str(alice.pk)}))
    assert sorted(r["id"] for r in rows_by_id) == sorted(r["id"] for r in rows)


def test_the_export_follows_the_date_hierarchy_and_ordering(admin_client, alice):
    old = _usage(alice, "old-1", cost_micros=3)
    _usage(alice, "new-1")
    when = timezone.now() - timedelta(days=40)
    UsageRecord.objects.filter(pk=old.pk).update(created_at=when)
    local = timezone.localtime(when)
    drill = {"created_at__year": local.year, "created_at__month": local.month, "created_at__day": local.day}
    rows = _rows(admin_client.get(reverse(USAGE_EXPORT), drill))
    assert [r["request_id"] for r in rows] == ["old-1"]
    assert (rows[0]["cost"], rows[0]["cost_micros"]) == ("0.000003", "3")
    ordered = _rows(admin_client.get(reverse(USAGE_EXPORT), {"o": "1"}))  # by request_id, ascending
    assert [r["request_id"] for r in ordered] == ["new-1", "old-1"]


def test_the_changelist_links_its_query_to_the_export(admin_client, alice):
    html = admin_client.get(reverse("admin:billing_ledgerentry_changelist"), {"kind__exact": "credit"}).content
    assert f'{reverse(LEDGER_EXPORT)}?kind__exact=credit"'.encode() in html
    assert b"Export CSV" in html and b"export_csv" in html  # the button and the action
    # The customer box keeps the other filters when it is submitted.
    html = admin_client.get(
        reverse("admin:billing_ledgerentry_changelist"), {"kind__exact": "credit", "customer": str(alice.pk)}
    ).content.decode()
    assert '<input type="hidden" name="kind__exact" value="credit">' in html
    assert f'name="customer" value="{alice.pk}"' in html and "1 ledger entry" in html


def test_text_cells_are_defused_but_amounts_are_not(admin_client, alice):
    _adjust(alice, -1_000_000, "=HYPERLINK(\"http://evil\",\"x\")")
    _usage(alice, "@evil", error_code="+cmd", upstream_model="-2+3")
    [ledger] = _rows(admin_client.get(reverse(LEDGER_EXPORT), {"kind__exact": "adjust"}))
    assert ledger["note"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert ledger["amount"] == "-1.000000"
    [usage] = _rows(admin_client.get(reverse(USAGE_EXPORT)))
    assert (usage["request_id"], usage["error_code"], usage["upstream_model"]) == ("'@evil", "'+cmd", "'-2+3")


def test_the_action_exports_the_ticked_rows(admin_client, alice):
    one, _two = _usage(alice, "a-1"), _usage(alice, "a-2")
    response = admin_client.post(
        reverse("admin:billing_usagerecord_changelist"), {"action": "export_csv", "_selected_action": [one.pk]}
    )
    assert [r["request_id"] for r in _rows(response)] == ["a-1"]
    assert AuditEntry.objects.get(action="csv_export").after["scope"] == "selected rows"


def test_the_export_is_audited(admin_client, admin_user, alice):
    _rows(admin_client.get(reverse(LEDGER_EXPORT), {"kind__exact": "credit"}))
    entry = AuditEntry.objects.get(action="csv_export")
    assert entry.actor == admin_user and entry.object_type == "billing.ledgerentry"
    assert entry.after == {"rows": 1, "scope": "filtered list", "query": "kind__exact=credit"}


def test_without_the_view_permission_the_export_is_refused(client, alice):
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse(LEDGER_EXPORT)).status_code == 403
    assert client.get(reverse("admin:billing_topuporder_export")).status_code == 403
    assert not AuditEntry.objects.exists()
    clerk.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    clerk = User.objects.get(pk=clerk.pk)  # fresh permission cache
    client.force_login(clerk)
    assert len(_rows(client.get(reverse(LEDGER_EXPORT)))) == 1
    assert client.get(reverse("admin:billing_topuporder_export")).status_code == 403


def test_support_can_export_and_anonymous_cannot(client, alice):
    support = User.objects.create_user("sam", password="pw", is_staff=True)
    support.groups.add(Group.objects.get(name="support"))
    assert client.get(reverse(LEDGER_EXPORT)).status_code == 302  # to the log-in page
    client.force_login(support)
    assert client.get(reverse(LEDGER_EXPORT)).status_code == 200


def test_bad_filters_are_a_400_not_a_500(admin_client, alice):
    assert admin_client.get(reverse(LEDGER_EXPORT), {"created_at__year": "nope"}).status_code == 400
    huge = admin_client.get(reverse(LEDGER_EXPORT), {"customer": "9" * 30})
    assert _rows(huge) == []


def test_topup_orders_export_their_own_currency(admin_client, alice):
    order = TopUpOrder.objects.create(
        account=alice, provider="stripe", amount_micros=20_500_000, currency="CNY", failure_reason="-bad card"
    )
    [row] = _rows(admin_client.get(reverse("admin:billing_topuporder_export"), {"customer": str(alice.pk)}))
    assert (row["id"], row["amount"], row["amount_micros"]) == (str(order.pk), "20.500000", "20500000")
    assert row["failure_reason"] == "'-bad card" and row["paid_at"] == ""


@pytest.mark.parametrize("model", ["ledgerentry", "usagerecord", "topuporder"])
def test_the_money_lists_stay_read_only(admin_client, alice, model):
    assert admin_client.get(reverse(f"admin:billing_{model}_add")).status_code == 403
    html = admin_client.get(reverse(f"admin:billing_{model}_changelist")).content.decode()
    assert 'value="delete_selected"' not in html and reverse(f"admin:billing_{model}_add") not in html


def test_a_big_export_does_not_query_per_row(admin_client, alice, django_assert_max_num_queries):
    from gateway.models import ApiKey
    from tests.factories import make_channel, make_model

    make_model("gpt-4o")
    channel = make_channel("sim")
    key = ApiKey.objects.get(account=alice)
    UsageRecord.objects.bulk_create(
        UsageRecord(request_id=f"bulk-{i}", account=alice, api_key=key, channel=channel, model_id="gpt-4o",
                    status=200, cost_micros=i)  # fmt: skip
        for i in range(5000)
    )
    with django_assert_max_num_queries(20):
        rows = _rows(admin_client.get(reverse(USAGE_EXPORT)))
    assert len(rows) == 5000
    assert {r["channel"] for r in rows} == {"sim"} and rows[0]["api_key_prefix"] == key.prefix
    assert sum(int(r["cost_micros"]) for r in rows) == sum(range(5000))


@pytest.mark.django_db(transaction=True)  # the ASGI handler reads the session from another thread
async def test_under_asgi_the_body_is_an_async_stream(async_client, admin_user, alice, monkeypatch):
    from asgiref.sync import sync_to_async
    from django.db import connections

    # The request's thread closes its connection when the response ends (max age 0), and the log-in's
    # thread is closed below: otherwise the test database could not be dropped afterwards.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    try:
        await async_client.aforce_login(admin_user)
        response = await async_client.get(reverse(LEDGER_EXPORT))
        assert response.is_async
        body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    finally:
        await sync_to_async(connections.close_all)()
    assert body.splitlines()[0].startswith("id,created_at,account_id")
    assert len(body.splitlines()) == 2


def test_one_audit_signal_for_every_layer_and_imports_point_one_way():
    import ast
    from pathlib import Path

    from billing import signals as billing_signals
    from gateway import signals as gateway_signals

    # The gateway's existing senders and billing's new ones reach the same receiver in accounts.
    assert gateway_signals.operator_action is billing_signals.operator_action
    root = Path(__file__).resolve().parents[2]

    def imported(app: str) -> set[str]:
        names: set[str] = set()
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
        return names

    assert not imported("billing") & {"gateway", "accounts"}
    assert "accounts" not in imported("gateway")
