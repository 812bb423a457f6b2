"""Team budgets at admission: a project's and a member's day and month budgets stop requests with a 402
`budget_exceeded` before any upstream call, shared by every key of the scope, reset with the calendar,
and tell the customer once per scope and period (webhook event spend.limit_reached)."""

import asyncio
import json

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from django.utils import timezone

from accounts import projects
from accounts.models import Membership, WebhookDelivery, WebhookEndpoint
from billing.db import run_db
from billing.models import Hold, UsageRecord
from billing.services import hold_reserve
from gateway.models import ApiKey
from gateway.relay import budgets
from gateway.relay.catalog import clear_caches
from gateway.services import api_key_create
from tests.conftest import relay_settled

pytestmark = pytest.mark.django_db(transaction=True)


async def call(key: str):
    response = await AsyncClient().post(
        "/v1/responses",
        data=json.dumps({"model": "gpt-4o", "input": "hi"}),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    await relay_settled()
    return response


def _second_key(account, **kwargs) -> str:
    return api_key_create(account_id=account.pk, name="second", **kwargs).secret


def _budget(project_id: int, **values) -> None:
    projects.project_update(account_id=projects.Project.objects.get(pk=project_id).account_id,
                            project_id=project_id, changes=values)  # fmt: skip


async def test_every_key_in_the_project_shares_its_daily_budget(catalog, alice):
    default = await run_db(projects.default_project, account_id=alice.account.pk)
    other_key = await run_db(_second_key, alice.account)
    await run_db(_budget, default.pk, budget_daily_micros=1)  # the first request costs more than one micro
    assert (await call(alice.key)).status_code == 200
    blocked = await call(other_key)  # another key of the same project: the budget is spent
    assert blocked.status_code == 402
    error = json.loads(blocked.content)["error"]
    assert (error["code"], error["type"]) == ("budget_exceeded", "insufficient_quota")
    assert "project 'Default'" in error["message"] and "daily" in error["message"]
    assert await run_db(UsageRecord.objects.count) == 1  # refused before any hold or upstream call


async def test_a_key_in_another_project_is_not_limited(catalog, alice):
    default = await run_db(projects.default_project, account_id=alice.account.pk)
    team = await run_db(projects.project_create, account_id=alice.account.pk, name="team")
    team_key = await run_db(_second_key, alice.account, project_id=team.pk)
    await run_db(_budget, default.pk, budget_daily_micros=1)
    assert (await call(alice.key)).status_code == 200
    assert (await call(alice.key)).status_code == 402
    assert (await call(team_key)).status_code == 200
    assert (await call(team_key)).status_code == 200


async def test_the_monthly_budget_resets_next_month(catalog, alice):
    default = await run_db(projects.default_project, account_id=alice.account.pk)
    await run_db(_budget, default.pk, budget_monthly_micros=1)
    assert (await call(alice.key)).status_code == 200
    assert (await call(alice.key)).status_code == 402
    with time_machine.travel(timezone.now() + timezone.timedelta(days=32)):
        clear_caches()
        assert (await call(alice.key)).status_code == 200


def _member_with_key(account, email: str, **budget) -> tuple[Membership, str]:
    user = get_user_model().objects.create_user(username=email, email=email)
    member = Membership.objects.create(account=account, user=user, **budget)
    return member, api_key_create(account_id=account.pk, name=email, created_by_id=user.pk).secret


async def test_a_member_budget_counts_the_keys_that_member_made(catalog, alice):
    _, dana_key = await run_db(_member_with_key, alice.account, "dana@example.com", budget_daily_micros=1)
    _, eve_key = await run_db(_member_with_key, alice.account, "eve@example.com")
    assert (await call(dana_key)).status_code == 200
    blocked = await call(dana_key)
    assert blocked.status_code == 402
    assert "member dana@example.com" in json.loads(blocked.content)["error"]["message"]
    assert (await call(eve_key)).status_code == 200  # another member, same project: not limited
    assert (await call(alice.key)).status_code == 200  # a key nobody's budget counts


async def test_keys_without_budgets_make_no_budget_query(catalog, alice):
    info = await run_db(lambda: budgets.for_key(ApiKey.objects.select_related("project").get(account=alice.account)))
    assert info == ()  # KeyInfo.budgets empty: admission skips the check entirely


def test_open_holds_of_the_project_count_and_the_last_tagged_is_refused(catalog, alice):
    """The recheck after the hold: requests admitted together see each other's holds."""
    from tests.billing.matrix_helpers import PRICE

    key = ApiKey.objects.get(account=alice.account)
    default = projects.default_project(account_id=alice.account.pk)
    for request_id in ("r1", "r2"):
        hold_reserve(account_id=alice.account.pk, request_id=request_id, input_tokens=1000, max_output_tokens=50,
                     price=PRICE, ttl_seconds=60)  # fmt: skip
    held = Hold.objects.get(request_id="r1").amount_micros
    rule = (budgets.Budget("project", default.pk, "Default", "daily", held, (("project_id", default.pk),)),)
    assert budgets.over_budget(rule, api_key_id=key.pk, hold_request_id="r1") is None
    assert budgets.over_budget(rule, api_key_id=key.pk, hold_request_id="r2") == rule[0]
    assert budgets.over_budget(rule, api_key_id=key.pk) == rule[0]  # a third sees both


async def test_a_budget_reached_is_told_once_per_period(catalog, alice, django_capture_on_commit_callbacks):
    await run_db(lambda: WebhookEndpoint.objects.create(account=alice.account, url="https://hooks.example.com/x",
                                                        events=[], secret_encrypted="x", enabled=True))  # fmt: skip
    default = await run_db(projects.default_project, account_id=alice.account.pk)
    await run_db(_budget, default.pk, budget_daily_micros=1)
    budgets._told.clear()
    assert (await call(alice.key)).status_code == 200
    for _ in range(3):
        assert (await call(alice.key)).status_code == 402
    await asyncio.sleep(0.2)  # the event is recorded in the background, off the refusal's path
    budgets._told.clear()  # as if another worker refused too: the stable message id keeps one delivery
    assert (await call(alice.key)).status_code == 402
    await asyncio.sleep(0.2)
    rows = await run_db(lambda: list(WebhookDelivery.objects.values_list("event_type", "payload")))
    assert len(rows) == 1
    event_type, payload = rows[0]
    assert event_type == "spend.limit_reached"
    assert payload["data"] == {"scope": "project", "id": default.pk, "period": "daily", "limit_micros": 1}


async def test_a_key_cap_reached_is_told_too(catalog, alice):
    await run_db(lambda: WebhookEndpoint.objects.create(account=alice.account, url="https://hooks.example.com/x",
                                                        events=["spend.limit_reached"], secret_encrypted="x"))  # fmt: skip
    await run_db(lambda: ApiKey.objects.filter(account=alice.account).update(spend_limit_total_micros=1))
    budgets._told.clear()
    assert (await call(alice.key)).status_code == 200
    assert (await call(alice.key)).status_code == 402
    await asyncio.sleep(0.2)
    [payload] = await run_db(lambda: list(WebhookDelivery.objects.values_list("payload", flat=True)))
    key_id = await run_db(lambda: ApiKey.objects.get(account=alice.account).pk)
    assert payload["data"] == {"scope": "key", "id": key_id, "period": "total", "limit_micros": 1}


def test_settled_spend_counts_old_records_once_and_new_ones_live(catalog, alice):
    """The month is counted in full at most every CLOSED_REFRESH; the records since the cut on every check."""
    key = ApiKey.objects.get(account=alice.account)
    lookups = (("project_id", key.project_id),)
    now = timezone.now()
    start = budgets.period_starts(now)

    def record(request_id: str, cost: int, at, api_key=key) -> None:
        row = UsageRecord.objects.create(request_id=request_id, account=alice.account, api_key=api_key,
                                         model_id="gpt-4o", status=200, cost_micros=cost)  # fmt: skip
        UsageRecord.objects.filter(pk=row.pk).update(created_at=at)

    record("old", 100, max(start["daily"], now - timezone.timedelta(minutes=10)))
    if start["monthly"] < start["daily"]:
        record("last-week", 1_000, start["monthly"])  # this month, not today
    month_extra = 1_000 if start["monthly"] < start["daily"] else 0
    assert budgets.settled_micros(lookups, now) == {"daily": 100, "monthly": 100 + month_extra}
    record("new", 10, now)  # since the cut: seen at once
    assert budgets.settled_micros(lookups, now) == {"daily": 110, "monthly": 110 + month_extra}
    other = api_key_create(account_id=alice.account.pk, name="other").key  # same project: counted too
    record("other", 1, now, api_key=other)
    assert budgets.settled_micros(lookups, now)["daily"] == 111
    later = now + budgets.CLOSED_REFRESH + budgets.CLOSED_LAG + timezone.timedelta(seconds=1)
    if budgets.period_starts(later) == start:  # the recount (not across midnight) finds the same
        assert budgets.settled_micros(lookups, later) == {"daily": 111, "monthly": 111 + month_extra}
