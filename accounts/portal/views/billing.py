"""Billing: balance, ledger history, top-up (Stripe, Alipay, WeChat Pay: whichever are configured), redeem a
code, low-balance threshold. The QR-code page of a top-up is in topup_qr.py."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.money import currency as currency_code
from billing.money import format_amount

from .. import billing_hooks, selectors, services, throttle
from ..access import member_required, owner_required
from ..forms import RedeemForm, ThresholdForm, TopUpForm
from . import site_url


def _symbol() -> str:
    return format_amount(0).rstrip("0.,")


def _page(request, *, redeem_form=None, topup_form=None, threshold_form=None, status=200):
    account_id = request.portal.account.pk
    wallet = selectors.wallet_of(account_id=account_id)
    default_threshold = billing_hooks.default_threshold_micros()
    threshold = wallet["threshold_micros"]
    context = {
        "wallet": wallet,
        "currency": currency_code(),
        "ledger": selectors.ledger_page(
            account_id=account_id, after=request.GET.get("after"), before=request.GET.get("before")
        ),
        "charges_by_day": selectors.charges_by_day(account_id=account_id),
        "topup_available": billing_hooks.topup_available(),
        "redeem_form": redeem_form or RedeemForm(),
        "topup_form": topup_form
        or TopUpForm(currency_symbol=_symbol(), providers=billing_hooks.topup_providers(), initial={"preset": "100"}),
        "threshold_form": threshold_form
        or ThresholdForm(initial={"threshold": "" if threshold is None else format_amount(threshold, places=2)[1:]}),
        "default_threshold": default_threshold,
        "effective_threshold": threshold if threshold is not None else default_threshold,
    }
    return render(request, "portal/billing.html", context, status=status)


@member_required
def billing(request):
    if request.GET.get("topup") == "success":
        messages.info(request, _("Thank you! Your payment is being confirmed; the balance updates within a minute."))
    elif request.GET.get("topup") == "paid":
        messages.success(request, _("Payment received: your balance has been topped up."))
    elif request.GET.get("topup") == "cancel":
        messages.info(request, _("Top-up cancelled. Nothing was charged."))
    if request.GET.get("topup"):
        return redirect("portal:billing")
    return _page(request)


@member_required
@require_POST
def redeem(request):
    form = RedeemForm(request.POST)
    account_id = request.portal.account.pk
    if not form.is_valid():
        return _page(request, redeem_form=form, status=400)
    # Codes are 80 random bits, but a cap on guesses per account costs nothing.
    if throttle.REDEEM.blocked(str(account_id)):
        form.add_error("code", _("Too many attempts. Try again in an hour."))
        return _page(request, redeem_form=form, status=429)
    try:
        entry = billing_hooks.code_redeem(
            account_id=account_id, code=form.cleaned_data["code"], actor=f"user:{request.user.pk}"
        )
    except billing_hooks.RedemptionError as exc:
        throttle.REDEEM.fail(str(account_id))
        reasons = {
            "code_expired": _("This code has expired."),
            "code_redeemed": _("This code was already redeemed."),
        }
        form.add_error("code", reasons.get(exc.reason, _("No such code. Check for typos.")))
        return _page(request, redeem_form=form, status=400)
    messages.success(request, _("Code redeemed: %(amount)s added.") % {"amount": format_amount(entry.amount_micros)})
    return redirect("portal:billing")


@owner_required
@require_POST
def topup(request):
    providers = billing_hooks.topup_providers()
    form = TopUpForm(request.POST, currency_symbol=_symbol(), providers=providers)
    if not providers:
        messages.error(request, _("Online payments are not available."))
        return redirect("portal:billing")
    if not form.is_valid():
        return _page(request, topup_form=form, status=400)
    back = site_url(request) + reverse("portal:billing")
    try:
        started = billing_hooks.topup_start(
            account_id=request.portal.account.pk,
            amount_micros=form.cleaned_data["amount_micros"],
            provider=form.cleaned_data["provider"],
            success_url=back + "?topup=success",
            cancel_url=back + "?topup=cancel",
        )
    except billing_hooks.TopUpError:
        form.add_error("custom", _("The payment page could not be opened. Try another amount or try again later."))
        return _page(request, topup_form=form, status=400)
    if started.qr_code:  # pay by scanning: our page shows the code and waits for the payment
        return redirect("portal:topup_qr", order_id=started.order.pk)
    return redirect(started.redirect_url)


@owner_required
@require_POST
def threshold(request):
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        return _page(request, threshold_form=form, status=400)
    services.wallet_threshold_set(account_id=request.portal.account.pk, threshold_micros=form.cleaned_data["threshold"])
    messages.success(request, _("Low-balance alert saved."))
    return redirect("portal:billing")
