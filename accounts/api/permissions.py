"""Scopes of the API.

Customer scope: `request.scope` is the account being acted for, resolved on every request: a customer
management key's own account, or the portal session's current account (re-checked against the user's
memberships, accounts.portal.access.resolve). Every query then filters by `request.scope.account_id`.

Operator scope: staff only, and each action needs the Django permission the console's role grants
(groups support / finance / admin, accounts migration 0005): the view names it per action."""

from dataclasses import dataclass
from typing import Any

from rest_framework.permissions import BasePermission

from ..models import Account, Membership
from ..portal.access import resolve
from .auth import KeyPrincipal
from .errors import ApiProblem


@dataclass(frozen=True)
class Scope:
    account: Account
    is_owner: bool
    user: Any  # the Django user for a session, None for a management key

    @property
    def account_id(self) -> int:
        return self.account.pk

    @property
    def actor(self) -> str:
        """Who, in the ledger's `actor` words."""
        return f"user:{self.user.pk}" if self.user is not None else "management-key"


def customer_scope(request) -> Scope:
    user = request.user
    if isinstance(user, KeyPrincipal):
        return Scope(account=request.auth.account, is_owner=True, user=None)
    portal = resolve(request)
    if portal is None:
        raise ApiProblem(403, "no_account", "You are not a member of any active account.")
    return Scope(account=portal.account, is_owner=portal.membership.role == Membership.Role.OWNER, user=user)


class CustomerScope(BasePermission):
    """A member of an account; with `owner_actions` on the view, those actions need the owner role."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        request.scope = customer_scope(request)
        if view.action in getattr(view, "owner_actions", ()) and not request.scope.is_owner:
            raise ApiProblem(403, "owner_required", "Only an owner of the account may do this.")
        return True


class OperatorPermission(BasePermission):
    """Staff, plus `view.operator_perms[action]` (Django permission names; all of them needed)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 with our WWW-Authenticate
        if not (user.is_active and user.is_staff):
            raise ApiProblem(403, "staff_only", "Operator endpoints need a staff account.")
        needed = view.operator_perms.get(view.action) or view.operator_perms.get("*")
        if needed is None:
            return False  # an action nobody granted is refused, never open by default
        if not user.has_perms(needed):
            raise ApiProblem(403, "role_required", f"Your role lacks: {', '.join(needed)}.")
        return True
