"""The QR-code page of a top-up (Alipay precreate, WeChat Pay Native): the code as inline SVG, and a
status the page polls until the payment is credited. Only the account's own orders; others are 404."""

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from .. import billing_hooks
from ..access import owner_required


def _order(request, order_id):
    order = billing_hooks.topup_order(account_id=request.portal.account.pk, order_id=order_id)
    if order is None:
        raise Http404("no such top-up")
    return order


@owner_required
def topup_qr(request, order_id):
    order = _order(request, order_id)
    if order.status == order.Status.CREDITED:
        return redirect(reverse("portal:billing") + "?topup=paid")
    if not order.qr_code:
        raise Http404("this top-up has no QR code")
    # segno draws the modules as one SVG path; no external image, nothing to fetch. Imported here: only this page needs it.
    import segno

    svg = segno.make(order.qr_code, error="m").svg_inline(scale=5, border=2, light="#fff")
    context = {
        "order": order,
        "svg": svg,
        "provider_label": dict(billing_hooks.PROVIDER_LABELS).get(order.provider, order.provider),
        "waiting": order.status == order.Status.CREATED,
    }
    return render(request, "portal/topup_qr.html", context)


@owner_required
def topup_status(request, order_id):
    order = _order(request, order_id)
    return JsonResponse({"status": order.status}, headers={"Cache-Control": "no-store"})
