"""Teams inside an account: projects (each API key belongs to one), their budgets and the members' budgets.

Every function takes the account it acts on and only touches that account's rows. Budgets are enforced
at admission by gateway.relay.budgets, which also owns the one rule for what a scope has spent; this module
writes them and reads spend for the pages. A change reaches this worker's key cache at once and the
other workers' within HARNMODEL_AUTH_CACHE_SECONDS, as a key's own limits do.
"""

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.signals import pre_save

from gateway.models import ApiKey
from gateway.relay import budgets
from gateway.relay.catalog import clear_caches

from .models import Membership, Project

DEFAULT_NAME = "Default"
MAX_PROJECTS = 100  # per account
BUDGET_FIELDS = ("budget_daily_micros", "budget_monthly_micros")


class ProjectError(Exception):
    """A change the rules refuse; str() is a stable code (name_taken, project_limit, default_project, has_keys)."""


def default_project(*, account_id: int) -> Project:
    project = Project.objects.filter(account_id=account_id, is_default=True).first()
    if project is not None:
        return project
    try:
        with transaction.atomic():
            return Project.objects.create(account_id=account_id, name=DEFAULT_NAME, is_default=True)
    except IntegrityError:  # made meanwhile (or a project already took the name)
        found = Project.objects.filter(account_id=account_id, is_default=True).first()
        if found is not None:
            return found
        return Project.objects.create(account_id=account_id, name=f"{DEFAULT_NAME} ({account_id})", is_default=True)


def project_of_account(*, account_id: int, project_id: int) -> Project:
    return Project.objects.get(account_id=account_id, pk=project_id)


def projects_of_account(*, account_id: int):
    default_project(account_id=account_id)  # accounts made before teams, or by hand, get theirs on first sight
    return Project.objects.filter(account_id=account_id).annotate(
        key_count=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))  # fmt: skip


def _checked_budgets(changes: dict) -> dict:
    return {field: changes[field] for field in BUDGET_FIELDS if field in changes}


@transaction.atomic
def project_create(*, account_id: int, name: str, budgets: dict | None = None) -> Project:
    default_project(account_id=account_id)
    if Project.objects.filter(account_id=account_id).count() >= MAX_PROJECTS:
        raise ProjectError("project_limit")
    if Project.objects.filter(account_id=account_id, name=name).exists():
        raise ProjectError("name_taken")
    return Project.objects.create(account_id=account_id, name=name, **_checked_budgets(budgets or {}))


@transaction.atomic
def project_update(*, account_id: int, project_id: int, changes: dict) -> Project:
    """Rename and/or set budgets (None = no limit)."""
    project = Project.objects.select_for_update().get(account_id=account_id, pk=project_id)
    values = _checked_budgets(changes)
    if "name" in changes and changes["name"] != project.name:
        if Project.objects.filter(account_id=account_id, name=changes["name"]).exists():
            raise ProjectError("name_taken")
        values["name"] = changes["name"]
    for field, value in values.items():
        setattr(project, field, value)
    if values:
        project.save(update_fields=list(values))
        clear_caches()  # this worker at once: the budgets ride on the cached key info
    return project


@transaction.atomic
def project_delete(*, account_id: int, project_id: int) -> None:
    """Only an empty project, never the default one: a key's spend must always have a home."""
    project = Project.objects.select_for_update().get(account_id=account_id, pk=project_id)
    if project.is_default:
        raise ProjectError("default_project")
    if ApiKey.objects.filter(project=project).exists():
        raise ProjectError("has_keys")
    project.delete()


@transaction.atomic
def member_budget_set(*, account_id: int, membership_id: int, changes: dict) -> Membership:
    member = Membership.objects.select_for_update().select_related("user").get(account_id=account_id,
                                                                              pk=membership_id)  # fmt: skip
    values = _checked_budgets(changes)
    for field, value in values.items():
        setattr(member, field, value)
    if values:
        member.save(update_fields=list(values))
        clear_caches()
    return member


def members_of_account(*, account_id: int) -> list[Membership]:
    return list(Membership.objects.filter(account_id=account_id).select_related("user").order_by("created_at"))


# --- spend, for the pages -----------------------------------------------------------------------------


def project_spend(*, account_id: int, project_ids: list[int]) -> dict[int, dict[str, int]]:
    """{project id: {"daily": µ, "monthly": µ}} spent this calendar day and month (settled requests)."""
    return budgets.spend_by("project_id", project_ids, account_id=account_id)


def member_spend(*, account_id: int, memberships: list[Membership]) -> dict[int, dict[str, int]]:
    """{membership id: {...}} spent through the keys each member created in this account."""
    by_user = budgets.spend_by("created_by_id", [m.user_id for m in memberships], account_id=account_id)
    return {m.pk: by_user[m.user_id] for m in memberships}


# --- every key in a project -------------------------------------------------------------------------


def _key_gets_default_project(sender, instance: ApiKey, **kwargs) -> None:
    """A key saved without a project (an admin form, a script, an older caller) lands in the default one."""
    if instance.project_id is None and instance.account_id is not None:
        instance.project = default_project(account_id=instance.account_id)


def connect() -> None:
    pre_save.connect(_key_gets_default_project, sender=ApiKey, dispatch_uid="accounts.projects.default")
