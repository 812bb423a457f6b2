"""Auto top-up: save a card on Stripe's page, set the threshold and the amount, switch it on or off, see
the attempts. Members see it; only owners change it. The logic is billing.autotopup."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import autotopup
from billing.autotopup_models import AutoTopUpAttempt
from billing.money import decimal_string

from ..access import member_required, owner_required
from ..autotopup_forms import AutoTopUpForm
from . import site_url

ATTEMPTS_SHOWN = 20


def _initial(row) -> dict:
    if row.pk is None:
        return {"enabled": False, "threshold": "", "amount": ""}
    return {"enabled": row.enabled, "threshold": decimal_string(row.threshold_micros),
            "amount": decimal_string(row.amount_micros)}  # fmt: skip


def _page(request, *, form=None, status=200):
    account_id = request.portal.account.pk
    row = autotopup.settings_of(account_id=account_id)
    context = {
        "page": "billing",
        "available": autotopup.available(),
        "retry_minutes": settings.HARNMODEL_AUTOTOPUP_RETRY_MINUTES,
        "auto": row,
        "form": form or AutoTopUpForm(initial=_initial(row), bounds=autotopup.bounds()),
        "attempts": AutoTopUpAttempt.objects.filter(account_id=account_id).select_related("order")[:ATTEMPTS_SHOWN],
    }
    return render(request, "portal/autotopup.html", context, status=status)


@member_required
def autotopup_page(request):
    card = request.GET.get("card")
    if card == "saved" and request.portal.is_owner:
        _card_returned(request, request.GET.get("session_id", ""))
    elif card == "cancel":
        messages.info(request, _("No card was saved."))
    if card:
        return redirect("portal:autotopup")
    return _page(request)


def _card_returned(request, session_id: str) -> None:
    """Back from Stripe's page: ask Stripe what was saved (the webhook may already have told us)."""
    if not session_id.startswith("cs_"):
        return
    try:
        saved = autotopup.card_saved(session_id=session_id, account_id=request.portal.account.pk)
    except autotopup.PaymentError:
        saved = None
    except autotopup.AutoTopUpError:
        messages.error(request, _("That card setup belongs to another account."))
        return
    if saved is not None:
        messages.success(request, _("Card saved. Now choose the threshold and the amount, and switch it on."))
    else:
        messages.info(request, _("Your card is being confirmed; it appears here within a minute."))


@owner_required
@require_POST
def autotopup_save(request):
    form = AutoTopUpForm(request.POST, bounds=autotopup.bounds())
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        autotopup.settings_save(
            account_id=request.portal.account.pk,
            enabled=form.cleaned_data["enabled"],
            threshold_micros=form.cleaned_data["threshold"],
            amount_micros=form.cleaned_data["amount"],
        )
    except autotopup.AutoTopUpError as exc:
        reasons = {
            "no_card": ("enabled", _("Save a card first.")),
            "amount_inexact": ("amount", _("Enter an amount in whole cents.")),
            "threshold_out_of_range": ("threshold", _("That threshold is out of range.")),
        }
        field, message = reasons.get(exc.reason, ("amount", _("That amount is out of range.")))
        form.add_error(field, message)
        return _page(request, form=form, status=400)
    messages.success(request, _("Auto top-up saved."))
    return redirect("portal:autotopup")


@owner_required
@require_POST
def autotopup_card(request):
    back = site_url(request) + reverse("portal:autotopup")
    try:
        url = autotopup.card_setup_start(
            account_id=request.portal.account.pk,
            email=request.portal.account.email,
            # Stripe fills in {CHECKOUT_SESSION_ID}: the return tells us which session to ask about.
            success_url=back + "?card=saved&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=back + "?card=cancel",
        )
    except (autotopup.AutoTopUpError, autotopup.PaymentError):
        messages.error(request, _("The card page could not be opened. Try again later."))
        return redirect("portal:autotopup")
    return redirect(url)


@owner_required
@require_POST
def autotopup_card_remove(request):
    autotopup.card_remove(account_id=request.portal.account.pk)
    messages.success(request, _("Card removed; auto top-up is off."))
    return redirect("portal:autotopup")
