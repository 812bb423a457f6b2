"""API keys: create (secret shown once), list, revoke with confirmation."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from gateway.models import ApiKey

from ... import projects
from .. import selectors, services
from ..access import member_required, owner_required
from ..forms import ApiKeyForm


@member_required
def key_list(request):
    keys = selectors.keys_with_spend(account_id=request.portal.account.pk)
    return render(request, "portal/keys/list.html", {"keys": keys})


@member_required
@require_http_methods(["GET", "POST"])
def key_create(request):
    account_projects = list(projects.projects_of_account(account_id=request.portal.account.pk))
    form = ApiKeyForm(request.POST or None, projects=account_projects)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = services.key_issue(
                account_id=request.portal.account.pk,
                name=data["name"],
                allowed_models=data["allowed_models"],
                expires_at=data["expires_at"],
                limits=form.limits(),
                project_id=data.get("project") or None,
                created_by_id=request.user.pk,
            )
        except services.PortalError:
            form.add_error("allowed_models", _("Pick models from the list."))
        else:
            # The secret is in this response and nowhere else: not in the session (whose rows decode
            # without the secret key), not in a message, not in a cache. A redirect would need one of those.
            response = render(request, "portal/keys/created.html", {"key": issued.key, "secret": issued.secret})
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
            return response
    return render(request, "portal/keys/new.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
@member_required
def key_created(request, key_id: int):
    """The page after the secret was shown (e.g. reloaded later): its prefix only."""
    try:
        key = selectors.key_of_account(account_id=request.portal.account.pk, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404 from exc
    return render(request, "portal/keys/created.html", {"key": key, "secret": None})


@owner_required
@require_http_methods(["GET", "POST"])
def key_revoke(request, key_id: int):
    account_id = request.portal.account.pk
    try:
        key = selectors.key_of_account(account_id=account_id, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404 from exc
    if request.method == "POST":
        services.key_revoke(account_id=account_id, key_id=key.pk)
        messages.success(request, _("Key %(prefix)s… revoked. Requests with it now fail.") % {"prefix": key.prefix})
        return redirect("portal:keys")
    return render(request, "portal/keys/revoke.html", {"key": key})
