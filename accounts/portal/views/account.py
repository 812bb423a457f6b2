"""Account: its name, members and invitations; switching between accounts."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ...models import Invitation, Membership
from .. import selectors, services
from ..access import SESSION_KEY, member_required, owner_required
from ..forms import AccountNameForm, InvitationForm
from . import site_url


def _page(request, *, invite_form=None, name_form=None, status=200):
    account = request.portal.account
    context = {
        "members": selectors.members(account_id=account.pk),
        "invitations": selectors.invitations_pending(account_id=account.pk) if request.portal.is_owner else [],
        "invite_form": invite_form or InvitationForm(),
        "name_form": name_form or AccountNameForm(initial={"name": account.name}),
    }
    return render(request, "portal/account.html", context, status=status)


@member_required
def account(request):
    return _page(request)


@owner_required
@require_POST
def account_rename(request):
    form = AccountNameForm(request.POST)
    if not form.is_valid():
        return _page(request, name_form=form, status=400)
    services.account_rename(account_id=request.portal.account.pk, name=form.cleaned_data["name"])
    messages.success(request, _("Account name saved."))
    return redirect("portal:account")


@owner_required
@require_POST
def invitation_create(request):
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _page(request, invite_form=form, status=400)
    try:
        services.invitation_create(
            account_id=request.portal.account.pk,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            site_url=site_url(request),
        )
    except services.PortalError as exc:
        if str(exc) == "invitation_limit":
            form.add_error(
                "email", _("This account has sent as many invitations as it may in one day. Try again tomorrow.")
            )
            return _page(request, invite_form=form, status=429)
        form.add_error("email", _("This person is already a member."))
        return _page(request, invite_form=form, status=400)
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]})
    return redirect("portal:account")


@owner_required
@require_POST
def invitation_revoke(request, invitation_id: int):
    try:
        services.invitation_revoke(account_id=request.portal.account.pk, invitation_id=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("Invitation withdrawn."))
    return redirect("portal:account")


@owner_required
@require_POST
def member_remove(request, membership_id: int):
    try:
        services.member_remove(account_id=request.portal.account.pk, membership_id=membership_id)
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    except services.PortalError:
        messages.error(request, _("An account needs at least one owner."))
        return redirect("portal:account")
    messages.success(request, _("Member removed."))
    if membership_id == request.portal.membership.pk:  # an owner who left
        request.session.pop(SESSION_KEY, None)
        return redirect("portal:dashboard")
    return redirect("portal:account")


@member_required
@require_POST
def account_switch(request):
    try:
        wanted = int(request.POST.get("account", ""))
    except ValueError as exc:
        raise Http404 from exc
    if not any(m.account_id == wanted for m in request.portal.memberships):
        raise Http404
    request.session[SESSION_KEY] = wanted
    return redirect("portal:dashboard")
