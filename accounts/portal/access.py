"""Who is asking, for which account: every portal page goes through `member_required`.

A user may belong to several accounts; the one being looked at is kept in the session and is
re-checked against the user's memberships on every request, so a stale or forged session value
can never show another account's data.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from ..models import Account, Membership

SESSION_KEY = "portal_account_id"


@dataclass(frozen=True)
class Portal:
    account: Account
    membership: Membership
    memberships: list[Membership]

    @property
    def is_owner(self) -> bool:
        return self.membership.role == Membership.Role.OWNER


def resolve(request) -> Portal | None:
    memberships = list(
        Membership.objects.filter(user=request.user, account__is_active=True)
        .select_related("account")
        .order_by("account__name", "account_id")
    )
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    chosen = next((m for m in memberships if m.account_id == wanted), memberships[0])
    if wanted != chosen.account_id:
        request.session[SESSION_KEY] = chosen.account_id
    return Portal(account=chosen.account, membership=chosen, memberships=memberships)


def member_required(view=None, *, owner: bool = False):
    """Login, a membership in an active account (request.portal), and optionally the owner role."""

    def decorate(func):
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            portal = resolve(request)
            if portal is None:
                return render(request, "portal/no_account.html", status=403)
            request.portal = portal
            if owner and not portal.is_owner:
                raise PermissionDenied("owners only")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def owner_required(view):
    return member_required(view, owner=True)
