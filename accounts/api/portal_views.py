"""The portal page next to API keys: management keys (`mk-…`) for the management API. Owners create and
revoke them; the secret is in the one response that creates it and nowhere else (as for API keys)."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from ..models import ManagementKey
from ..portal.access import member_required, owner_required
from . import services


class ManagementKeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)


@member_required
def management_keys(request):
    keys = ManagementKey.objects.filter(account_id=request.portal.account.pk)
    return render(request, "portal/management_keys.html", {"keys": keys, "form": ManagementKeyForm()})


@owner_required
@require_POST
def management_key_create(request):
    form = ManagementKeyForm(request.POST)
    if not form.is_valid():
        keys = ManagementKey.objects.filter(account_id=request.portal.account.pk)
        return render(request, "portal/management_keys.html", {"keys": keys, "form": form}, status=400)
    key, secret = services.management_key_issue(
        account_id=request.portal.account.pk, user=request.user, name=form.cleaned_data["name"]
    )
    response = render(request, "portal/management_key_created.html", {"key": key, "secret": secret})
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    return response


@owner_required
@require_POST
def management_key_revoke(request, key_id: int):
    try:
        key = services.management_key_revoke(key_id=key_id, account_id=request.portal.account.pk)
    except ManagementKey.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("Management key %(prefix)s… revoked.") % {"prefix": key.prefix})
    return redirect("portal:management_keys")
