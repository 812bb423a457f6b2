"""Projects: the account's teams, their keys, spend today and this month, and budgets (project and member).

Every member sees the page; owners create, rename, set budgets and delete empty projects."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from gateway.models import ApiKey

from ... import projects
from ...models import Membership, Project
from ..access import member_required, owner_required
from ..team_forms import MemberBudgetForm, ProjectForm

REFUSALS = {
    "name_taken": lambda: _("This account already has a project of that name."),
    "project_limit": lambda: _("This account has as many projects as it may."),
    "default_project": lambda: _("The default project cannot be deleted."),
    "has_keys": lambda: _("Revoke this project's keys or move them to another project first."),
}


def _page(request, *, form=None, status=200):
    account_id = request.portal.account.pk
    rows = list(projects.projects_of_account(account_id=account_id))
    spend = projects.project_spend(account_id=account_id, project_ids=[p.pk for p in rows])
    live = ApiKey.objects.filter(account_id=account_id, revoked_at__isnull=True).order_by("name", "pk")
    keys: dict[int | None, list[ApiKey]] = {}
    for key in live.only("pk", "name", "prefix", "project_id"):
        keys.setdefault(key.project_id, []).append(key)
    for row in rows:
        row.spend_today, row.spend_month = spend[row.pk]["daily"], spend[row.pk]["monthly"]
        row.keys = keys.get(row.pk, [])
    members = projects.members_of_account(account_id=account_id)
    member_spend = projects.member_spend(account_id=account_id, memberships=members)
    for member in members:
        member.spend_today, member.spend_month = member_spend[member.pk]["daily"], member_spend[member.pk]["monthly"]
    context = {"projects": rows, "members": members, "form": form or ProjectForm()}
    return render(request, "portal/projects/list.html", context, status=status)


@member_required
def project_list(request):
    return _page(request)


@owner_required
@require_POST
def project_create(request):
    form = ProjectForm(request.POST)
    if form.is_valid():
        try:
            projects.project_create(account_id=request.portal.account.pk, name=form.cleaned_data["name"],
                                    budgets=form.budgets())  # fmt: skip
        except projects.ProjectError as exc:
            form.add_error("name", REFUSALS[str(exc)]())
        else:
            messages.success(request, _("Project created."))
            return redirect("portal:projects")
    return _page(request, form=form, status=400)


def _project(request, project_id: int) -> Project:
    try:
        return projects.project_of_account(account_id=request.portal.account.pk, project_id=project_id)
    except Project.DoesNotExist as exc:
        raise Http404 from exc


@owner_required
@require_http_methods(["GET", "POST"])
def project_edit(request, project_id: int):
    project = _project(request, project_id)
    form = ProjectForm(request.POST or None, initial={"name": project.name, **ProjectForm.initial_of(project)})
    if request.method == "POST" and form.is_valid():
        try:
            projects.project_update(account_id=project.account_id, project_id=project.pk,
                                    changes={"name": form.cleaned_data["name"], **form.budgets()})  # fmt: skip
        except projects.ProjectError as exc:
            form.add_error("name", REFUSALS[str(exc)]())
        else:
            messages.success(request, _("Project saved."))
            return redirect("portal:projects")
    return render(request, "portal/projects/edit.html", {"project": project, "form": form},
                  status=400 if form.errors else 200)  # fmt: skip


@owner_required
@require_POST
def project_delete(request, project_id: int):
    project = _project(request, project_id)
    try:
        projects.project_delete(account_id=project.account_id, project_id=project.pk)
    except projects.ProjectError as exc:
        messages.error(request, REFUSALS[str(exc)]())
    else:
        messages.success(request, _("Project deleted."))
    return redirect("portal:projects")


@owner_required
@require_http_methods(["GET", "POST"])
def member_budget(request, membership_id: int):
    try:
        member = Membership.objects.select_related("user").get(account=request.portal.account, pk=membership_id)
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    form = MemberBudgetForm(request.POST or None, initial=MemberBudgetForm.initial_of(member))
    if request.method == "POST" and form.is_valid():
        projects.member_budget_set(account_id=member.account_id, membership_id=member.pk, changes=form.budgets())
        messages.success(request, _("Budget saved."))
        return redirect("portal:projects")
    return render(request, "portal/projects/member.html", {"member": member, "form": form},
                  status=400 if form.errors else 200)  # fmt: skip
