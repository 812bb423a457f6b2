"""L2: bad query parameters of the portal's list pages and exports get a 400 (or an empty page), never a 500.

Run on SQLite and on PostgreSQL (DATABASE_URL): a NUL byte that reaches psycopg is an error there, and
dates near the calendar's end overflow on the way to SQL on both.
"""

import base64

import pytest
from django.urls import reverse

from billing.models import UsageRecord
from gateway.models import ApiKey


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.fixture
def used(alice):
    key = ApiKey.objects.filter(account=alice.account).first()
    UsageRecord.objects.create(request_id="req_known", account=alice.account, api_key=key, model_id="gpt-4o",
                               status=200, input_tokens=1, output_tokens=1, cost_micros=10, latency_ms=5)  # fmt: skip
    return alice


@pytest.mark.parametrize("name", ["portal:usage", "portal:usage_export"])
@pytest.mark.parametrize(
    "query",
    [
        "end=9999-12-31",
        "start=0001-01-01",
        "start=9999-12-31&end=9999-12-31",
        "end=2024-02-30",
        "request_id=req_%00",
        "model=gpt%00",
        "status=%00",
        "key=99999999999999999999999",
        "key=abc",
    ],
)
def test_bad_filters_are_a_400(used, name, query):
    response = used.client.get(reverse(name) + "?" + query)
    assert response.status_code == 400, query


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2024-01-01T00:00:00+00:00|99999999999999999999999"),
        _cursor("9999-12-31T23:59:59-23:59|1"),
        _cursor("0001-01-01T00:00:00+23:59|1"),
        _cursor("2024-01-01T00:00:00+00:00|-5"),
        _cursor("\x00|\x00"),
        "%00",
        "!!!",
    ],
)
@pytest.mark.parametrize("direction", ["after", "before"])
@pytest.mark.parametrize("name", ["portal:usage", "portal:billing"])
def test_mangled_page_cursors_give_a_page_not_a_500(used, name, direction, cursor):
    response = used.client.get(reverse(name), {direction: cursor} if cursor != "%00" else None,
                               QUERY_STRING=f"{direction}=%00" if cursor == "%00" else "")  # fmt: skip
    assert response.status_code in (200, 400)


@pytest.mark.parametrize("request_id", ["req_%00", "req_%00x", "%00", "x" * 200, "req_%E2%80%AE"])
def test_a_bad_request_id_is_a_404(used, request_id):
    response = used.client.get(f"/usage/requests/{request_id}.json")
    assert response.status_code == 404


def test_good_parameters_still_filter(used):
    assert used.client.get(reverse("portal:usage_record", args=["req_known"])).status_code == 200
    page = used.client.get(reverse("portal:usage"), {"start": "2020-01-01", "end": "2999-12-31"})
    assert page.status_code == 200 and "req_known" in page.content.decode()
    csv = used.client.get(reverse("portal:usage_export"), {"request_id": "req_known"})
    assert csv.status_code == 200 and "req_known" in b"".join(csv.streaming_content).decode()
