"""Projects in the portal: every member sees projects with their keys and spend; owners create, rename, set
project and member budgets and delete empty projects; a new key picks its project."""

from django.urls import reverse

from accounts import projects
from accounts.models import Membership, Project
from billing.models import UsageRecord
from gateway.models import ApiKey


def test_every_account_has_a_default_project_holding_its_keys(alice):
    page = alice.client.get(reverse("portal:projects"))
    assert page.status_code == 200
    default = Project.objects.get(account=alice.account, is_default=True)
    assert list(ApiKey.objects.filter(account=alice.account).values_list("project_id", flat=True)) == [default.pk]
    body = page.content.decode()
    assert "Default" in body and "Member budgets" in body and "alice@example.com" in body


def test_an_owner_creates_a_project_with_budgets_and_a_key_in_it(alice):
    response = alice.client.post(reverse("portal:project_create"),
                                 {"name": "search", "budget_daily": "1.5", "budget_monthly": ""})  # fmt: skip
    assert response.status_code == 302
    project = Project.objects.get(account=alice.account, name="search")
    assert (project.budget_daily_micros, project.budget_monthly_micros) == (1_500_000, None)
    new_key = alice.client.get(reverse("portal:key_create")).content.decode()
    assert "search" in new_key  # the project is offered when creating a key
    created = alice.client.post(reverse("portal:key_create"), {"name": "ci", "expiry": "", "project": project.pk})
    assert created.status_code == 200
    key = ApiKey.objects.get(account=alice.account, name="ci")
    assert (key.project_id, key.created_by_id) == (project.pk, alice.user.pk)
    UsageRecord.objects.create(request_id="req_p1", account=alice.account, api_key=key, model_id="gpt-4o",
                               status=200, cost_micros=2_340_000)  # fmt: skip
    listing = alice.client.get(reverse("portal:projects")).content.decode()
    assert "¥2.34" in listing and "¥1.50" in listing  # spend today and the daily budget
    assert f"<code>{key.prefix}…</code> ci" in listing  # the project's keys
    assert "search" in alice.client.get(reverse("portal:keys")).content.decode()


def test_a_key_cannot_be_put_in_another_accounts_project(alice, bob):
    theirs = projects.project_create(account_id=bob.account.pk, name="bobs")
    response = alice.client.post(reverse("portal:key_create"), {"name": "x", "expiry": "", "project": theirs.pk})
    assert response.status_code == 400
    assert not ApiKey.objects.filter(name="x").exists()


def test_rename_budgets_and_delete(alice):
    project = projects.project_create(account_id=alice.account.pk, name="old")
    url = reverse("portal:project_edit", args=[project.pk])
    assert alice.client.get(url).status_code == 200
    assert alice.client.post(url, {"name": "new", "budget_daily": "", "budget_monthly": "30"}).status_code == 302
    project.refresh_from_db()
    assert (project.name, project.budget_daily_micros, project.budget_monthly_micros) == ("new", None, 30_000_000)
    bad = alice.client.post(url, {"name": "new", "budget_daily": "0", "budget_monthly": ""})
    assert bad.status_code == 400 and "above zero" in bad.content.decode()
    taken = alice.client.post(url, {"name": "Default", "budget_daily": "", "budget_monthly": ""})
    assert taken.status_code == 400 and "already has a project of that name" in taken.content.decode()
    alice.client.post(reverse("portal:project_delete", args=[project.pk]))
    assert not Project.objects.filter(pk=project.pk).exists()
    default = Project.objects.get(account=alice.account, is_default=True)
    alice.client.post(reverse("portal:project_delete", args=[default.pk]))
    assert Project.objects.filter(pk=default.pk).exists()  # the default project stays


def test_a_project_with_keys_is_not_deleted(alice):
    project = projects.project_create(account_id=alice.account.pk, name="busy")
    ApiKey.objects.filter(account=alice.account).update(project=project)
    response = alice.client.post(reverse("portal:project_delete", args=[project.pk]), follow=True)
    assert "move them to another project first" in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()


def test_member_budgets_are_set_by_owners_only(alice, mallory):
    membership = Membership.objects.get(user=mallory.user)
    url = reverse("portal:member_budget", args=[membership.pk])
    assert mallory.client.get(url).status_code == 403
    assert mallory.client.post(reverse("portal:project_create"), {"name": "m"}).status_code == 403
    assert mallory.client.get(reverse("portal:projects")).status_code == 200  # members see the page
    assert alice.client.post(url, {"budget_daily": "2", "budget_monthly": "20"}).status_code == 302
    membership.refresh_from_db()
    assert (membership.budget_daily_micros, membership.budget_monthly_micros) == (2_000_000, 20_000_000)


def test_another_accounts_project_and_member_are_404(alice, bob):
    theirs = projects.project_create(account_id=bob.account.pk, name="bobs")
    bob_member = Membership.objects.get(account=bob.account)
    assert alice.client.get(reverse("portal:project_edit", args=[theirs.pk])).status_code == 404
    assert alice.client.post(reverse("portal:project_delete", args=[theirs.pk])).status_code == 404
    assert alice.client.post(reverse("portal:member_budget", args=[bob_member.pk]),
                             {"budget_daily": "1"}).status_code == 404  # fmt: skip
    assert Project.objects.filter(pk=theirs.pk).exists()
    assert Membership.objects.get(pk=bob_member.pk).budget_daily_micros is None


def test_the_projects_page_speaks_chinese(alice):
    body = alice.client.get(reverse("portal:projects"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "成员预算" in body and "每日预算" in body and "每个 API 密钥都属于一个项目" in body
    assert "Member budgets" not in body
