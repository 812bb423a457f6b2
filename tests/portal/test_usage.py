"""Usage: filters, keyset pagination, streamed CSV, the Playground's per-request JSON."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageRecord
from gateway.models import ApiKey
from tests.factories import make_channel


def _records(member, n, *, start=None, **fields):
    key = ApiKey.objects.filter(account=member.account).first()
    start = start or timezone.now()
    rows = UsageRecord.objects.bulk_create(
        UsageRecord(request_id=f"{member.account.pk}-{fields.get('model_id', 'gpt-4o')}-{i}-{start.timestamp()}",
                    account=member.account, api_key=key, model_id=fields.get("model_id", "gpt-4o"),
                    status=fields.get("status", 200), input_tokens=10 + i, cached_input_tokens=2, output_tokens=5,
                    reasoning_tokens=1, cost_micros=1000 + i, latency_ms=100, usage_estimated=(i == 0))
        for i in range(n)
    )  # fmt: skip
    for i, row in enumerate(rows):  # created_at is auto_now_add: spread them one second apart, newest last
        UsageRecord.objects.filter(pk=row.pk).update(created_at=start - timedelta(seconds=n - i))
    return rows


def test_usage_lists_every_column(alice):
    _records(alice, 1)
    body = alice.client.get(reverse("portal:usage")).content.decode()
    for text in ("gpt-4o", "test", ">10<", ">2<", ">5<", ">1<", "¥0.001", "100 ms", "est."):
        assert text in body, text


def test_usage_never_names_the_upstream(alice):
    channel = make_channel("secret-upstream-eu", provider="simulator")
    key = ApiKey.objects.get(account=alice.account)
    UsageRecord.objects.create(request_id="r-up", account=alice.account, api_key=key, channel=channel,
                               model_id="gpt-4o", upstream_model="vendor-internal-model", status=200,
                               attempts=[{"channel": "secret-upstream-eu", "url": "https://up.example"}])  # fmt: skip
    pages = [
        alice.client.get(reverse("portal:usage")).content.decode(),
        b"".join(alice.client.get(reverse("portal:usage_export")).streaming_content).decode(),
        alice.client.get(reverse("portal:usage_record", args=["r-up"])).content.decode(),
    ]
    for body in pages:
        assert "secret-upstream-eu" not in body and "vendor-internal-model" not in body
        assert "up.example" not in body


def test_keyset_pagination_walks_all_rows_both_ways(alice):
    rows = _records(alice, 120)
    seen, url = [], reverse("portal:usage")
    pages = []
    while url:
        response = alice.client.get(url)
        page = response.context["page"]
        pages.append(page)
        seen += [r["request_id"] for r in page.rows]
        url = reverse("portal:usage") + f"?after={page.older}" if page.older else None
    assert seen == [r.request_id for r in reversed(rows)]
    assert [len(p.rows) for p in pages] == [50, 50, 20]
    back = alice.client.get(reverse("portal:usage") + f"?before={pages[-1].newer}").context["page"]
    assert [r["request_id"] for r in back.rows] == [r["request_id"] for r in pages[1].rows]
    assert alice.client.get(reverse("portal:usage") + "?after=garbage").status_code == 200


def test_usage_filters(alice):
    _records(alice, 3)
    _records(alice, 2, model_id="deepseek-chat", status=502)
    old = timezone.now() - timedelta(days=10)
    _records(alice, 1, model_id="old-model", start=old)

    def ids(**params):
        response = alice.client.get(reverse("portal:usage"), params)
        return {r["model_id"] for r in response.context["page"].rows}, len(response.context["page"].rows)

    assert ids(model="deepseek-chat") == ({"deepseek-chat"}, 2)
    assert ids(status="error") == ({"deepseek-chat"}, 2)
    assert ids(status="502")[1] == 2
    assert ids(status="ok")[1] == 4
    day = timezone.localdate(old).isoformat()
    assert ids(start=day, end=day) == ({"old-model"}, 1)
    assert ids(start=timezone.localdate().isoformat())[1] == 5
    key = ApiKey.objects.get(account=alice.account)
    assert ids(key=key.pk)[1] == 6


def test_htmx_gets_only_the_results(alice):
    _records(alice, 1)
    response = alice.client.get(reverse("portal:usage"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<table" in body and "<html" not in body


def test_csv_export_streams_every_matching_row(alice):
    _records(alice, 5)
    _records(alice, 2, model_id="deepseek-chat")
    response = alice.client.get(reverse("portal:usage_export"), {"model": "gpt-4o"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 5 and {r["model"] for r in rows} == {"gpt-4o"}
    assert rows[-1]["cost"] == "0.001" and rows[-1]["usage_estimated"] == "True"


@pytest.mark.django_db(transaction=True)
async def test_csv_export_under_asgi_streams_in_chunks(alice, monkeypatch):
    from asgiref.sync import sync_to_async

    from accounts.portal import selectors

    await sync_to_async(_records)(alice, 7)
    original = selectors.usage_rows
    monkeypatch.setattr(selectors, "usage_rows", lambda **kw: original(**{**kw, "chunk": 3}))
    client = AsyncClient()
    await sync_to_async(client.force_login)(alice.user)
    response = await client.get(reverse("portal:usage_export"))
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) == 1 + 3  # header, then 3 + 3 + 1 rows
    assert b"".join(chunks).decode().count("\n") == 8


def test_usage_record_json_for_the_playground(alice):
    _records(alice, 1)
    record = UsageRecord.objects.get(account=alice.account)
    data = alice.client.get(reverse("portal:usage_record", args=[record.request_id])).json()
    assert data["cost"] == "0.001" and data["cost_display"] == "¥0.001"
    assert data["input_tokens"] == 10 and data["usage_estimated"] is True
    assert alice.client.get(reverse("portal:usage_record", args=["nope"])).status_code == 404


def test_usage_page_is_one_index_range_scan_without_offset(alice):
    """At a million rows a page must cost the same as the first: keyset on (account, created_at), no OFFSET."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = _records(alice, 60)
    cursor = alice.client.get(reverse("portal:usage")).context["page"].older
    with CaptureQueriesContext(connection) as queries:
        alice.client.get(reverse("portal:usage"), {"after": cursor})
    [sql] = [q["sql"] for q in queries.captured_queries if "billing_usagerecord" in q["sql"] and "LIMIT 51" in q["sql"]]
    assert "OFFSET" not in sql.upper()
    assert re.search(r'ORDER BY (2|"billing_usagerecord"."created_at") DESC, "billing_usagerecord"."id" DESC', sql)
    if connection.vendor != "sqlite":
        return  # PostgreSQL plans by statistics (tiny tables scan); the query's shape is what matters there
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql)  # the captured SQL has its parameters inlined
        plan = " ".join(str(row) for row in cur.fetchall())
    assert "usage_account_time" in plan, plan
    assert rows


@pytest.mark.django_db(transaction=True)
async def test_a_real_requests_id_is_shown_and_filterable(alice):
    """The x-request-id a client got (and quotes to support) is on the Usage page, copyable, and filters it."""
    import json

    from asgiref.sync import sync_to_async

    from tests.conftest import relay_settled

    await sync_to_async(make_channel)("sim", provider="simulator", models={"gpt-4o": ""},
                                      options={"latency_ms": 0, "token_delay_ms": 0})  # fmt: skip
    response = await AsyncClient().post(
        "/v1/responses",
        data=json.dumps({"model": "gpt-4o", "input": "hello"}),
        content_type="application/json",
        headers={"authorization": f"Bearer {alice.key}"},
    )
    assert response.status_code == 200
    await relay_settled()
    request_id = response["x-request-id"]
    other = await sync_to_async(_records)(alice, 3)
    client = AsyncClient()
    await sync_to_async(client.force_login)(alice.user)
    body = (await client.get(reverse("portal:usage"))).content.decode()
    assert f'title="{request_id}"' in body and f">{request_id}</span>" in body  # full id behind the copy button
    assert request_id[:12] in body
    filtered = (await client.get(reverse("portal:usage"), {"request_id": request_id})).content.decode()
    assert filtered.count('data-testid="request-id"') == 1 and request_id in filtered
    assert other[0].request_id not in filtered


def test_csv_export_defuses_formula_like_cells(alice):
    key = ApiKey.objects.get(account=alice.account)
    ApiKey.objects.filter(pk=key.pk).update(name='=HYPERLINK("http://evil.example","x")')
    _records(alice, 1)
    UsageRecord.objects.filter(account=alice.account).update(error_code="@SUM(1+1)", status=502)
    text = b"".join(alice.client.get(reverse("portal:usage_export")).streaming_content).decode()
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["key_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["error_code"] == "'@SUM(1+1)"
    assert row["status"] == "502" and row["input_tokens"] == "10"  # numbers stay numbers
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@")), value
