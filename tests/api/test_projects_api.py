"""Teams over the API: projects (CRUD, budgets, spend), keys in projects, members' budgets; owners write,
members read; the budgets set here are the ones admission enforces (tests/gateway/test_team_budgets.py)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Project
from billing.models import UsageRecord
from gateway.models import ApiKey
from gateway.relay import catalog

pytestmark = pytest.mark.django_db


def error(response) -> dict:
    return response.json()["error"]


def test_projects_list_with_default_keys_spend_and_budgets(tenant_a):
    client = tenant_a.client()
    rows = client.get("/api/v1/projects/").json()["results"]
    default = next(r for r in rows if r["is_default"])
    # the persona's usage (cost 123 µ, today) was made with its key, which the data migration's rule put here
    assert default["key_count"] == 1 and default["spend"] == {"today_micros": 123, "month_micros": 123}
    assert {r["name"] for r in rows} == {"Default", "alice-project"}
    key = client.get(f"/api/v1/keys/{tenant_a.api_key.pk}/").json()
    assert key["project"] == default["id"]


def test_create_budget_rename_and_delete(tenant_a):
    client = tenant_a.client()
    created = client.post("/api/v1/projects/", {"name": "search", "budget_daily_micros": 2_000_000}, format="json")
    assert created.status_code == 201, created.content
    project = created.json()
    assert (project["budget_daily_micros"], project["budget_monthly_micros"], project["key_count"]) == (2_000_000,
                                                                                                        None, 0)  # fmt: skip
    assert client.post("/api/v1/projects/", {"name": "search"}, format="json").json()["error"]["code"] == "name_taken"
    changed = client.patch(f"/api/v1/projects/{project['id']}/", {"name": "search-2", "budget_daily_micros": None,
                                                                  "budget_monthly_micros": 9}, format="json")  # fmt: skip
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["budget_daily_micros"], changed.json()["budget_monthly_micros"]) == (
        "search-2", None, 9)  # fmt: skip
    for bad in ({"budget_daily_micros": 0}, {"name": "  "}, {"budget_monthly_micros": 10**30}):
        response = client.patch(f"/api/v1/projects/{project['id']}/", bad, format="json")
        assert response.status_code == 400 and error(response)["code"] == "invalid", bad
    assert client.delete(f"/api/v1/projects/{project['id']}/").status_code == 204
    assert not Project.objects.filter(pk=project["id"]).exists()


def test_the_default_project_and_projects_with_keys_stay(tenant_a):
    client = tenant_a.client()
    default = Project.objects.get(account=tenant_a.account, is_default=True)
    response = client.delete(f"/api/v1/projects/{default.pk}/")
    assert response.status_code == 409 and error(response)["code"] == "default_project"
    ApiKey.objects.filter(pk=tenant_a.api_key.pk).update(project=tenant_a.project)
    response = client.delete(f"/api/v1/projects/{tenant_a.project.pk}/")
    assert response.status_code == 409 and error(response)["code"] == "has_keys"


def test_keys_are_created_in_and_moved_between_projects(tenant_a):
    client = tenant_a.session()
    created = client.post("/api/v1/keys/", {"name": "team-key", "project": tenant_a.project.pk}, format="json")
    assert created.status_code == 201 and created.json()["project"] == tenant_a.project.pk
    key = ApiKey.objects.get(pk=created.json()["id"])
    assert key.created_by_id == tenant_a.owner.pk  # made from a session: counts against the owner's budget
    default = Project.objects.get(account=tenant_a.account, is_default=True)
    moved = client.patch(f"/api/v1/keys/{key.pk}/", {"project": default.pk}, format="json")
    assert moved.status_code == 200 and moved.json()["project"] == default.pk
    unknown = client.patch(f"/api/v1/keys/{key.pk}/", {"project": 999_999}, format="json")
    assert unknown.status_code == 400 and error(unknown)["code"] == "unknown_project"
    by_key = tenant_a.client().post("/api/v1/keys/", {"name": "mk-made"}, format="json").json()
    assert by_key["project"] == default.pk and ApiKey.objects.get(pk=by_key["id"]).created_by_id is None


def test_member_budgets_with_spend(tenant_a):
    client = tenant_a.client()
    member = tenant_a.member
    key = ApiKey.objects.create(account=tenant_a.account, prefix="sk-m", secret_hash="m" * 64,
                                created_by=member.user)  # fmt: skip
    UsageRecord.objects.create(request_id="req_member", account=tenant_a.account, api_key=key, model_id="gpt-4o",
                               status=200, cost_micros=500)  # fmt: skip
    response = client.patch(f"/api/v1/members/{member.pk}/", {"budget_daily_micros": 1_000,
                                                              "budget_monthly_micros": 20_000}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["spend"] == {"today_micros": 500, "month_micros": 500}
    row = next(m for m in client.get("/api/v1/members/").json()["results"] if m["id"] == member.pk)
    assert (row["budget_daily_micros"], row["budget_monthly_micros"]) == (1_000, 20_000)
    assert Membership.objects.get(pk=member.pk).budget_daily_micros == 1_000
    # and admission reads it with the key (the budgets ride on the cached key info)
    [daily, monthly] = catalog.load_key(key.secret_hash).budgets
    assert (daily.scope, daily.period, daily.limit_micros, monthly.limit_micros) == ("member", "daily", 1_000, 20_000)


def test_members_read_but_only_owners_write(tenant_a):
    client = APIClient()
    client.force_login(tenant_a.member.user)
    assert client.get("/api/v1/projects/").status_code == 200
    assert client.get(f"/api/v1/projects/{tenant_a.project.pk}/").status_code == 200
    for method, url, body in [("post", "/api/v1/projects/", {"name": "x"}),
                              ("patch", f"/api/v1/projects/{tenant_a.project.pk}/", {"budget_daily_micros": 1}),
                              ("delete", f"/api/v1/projects/{tenant_a.project.pk}/", None),
                              ("patch", f"/api/v1/members/{tenant_a.member.pk}/", {"budget_daily_micros": 1})]:  # fmt: skip
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403 and error(response)["code"] == "owner_required", (method, url)
    assert Project.objects.get(pk=tenant_a.project.pk).budget_daily_micros is None


def test_usage_filtered_by_project(tenant_a):
    client = tenant_a.client()
    default = Project.objects.get(account=tenant_a.account, is_default=True)
    in_default = client.get(f"/api/v1/usage/?project={default.pk}").json()["results"]
    assert [r["request_id"] for r in in_default] == [tenant_a.usage.request_id]
    assert client.get(f"/api/v1/usage/?project={tenant_a.project.pk}").json()["results"] == []
    export = client.get(f"/api/v1/usage/export/?project={tenant_a.project.pk}")
    assert tenant_a.usage.request_id.encode() not in b"".join(export.streaming_content)
    assert client.get("/api/v1/usage/?project=0").status_code == 400
