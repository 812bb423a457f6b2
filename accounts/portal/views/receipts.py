"""A usage row's receipt page (shown and verified) and its **Dispute this charge** form."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing.disputes import DisputeError, dispute_open

from .. import selectors
from ..access import member_required
from ..dispute_forms import DisputeForm
from ..receipts import receipt_of
from .usage import REQUEST_ID

_ERRORS = {
    "no_reason": gettext_lazy("Say what is wrong with the charge."),
    "too_long": gettext_lazy("The reason is too long."),
    "no_charge": gettext_lazy("There is no charge for this request."),
    "already_disputed": gettext_lazy("This charge is already disputed."),
}


def _record(request, request_id: str) -> dict:
    if not REQUEST_ID.fullmatch(request_id):
        raise Http404
    row = selectors.usage_record(account_id=request.portal.account.pk, request_id=request_id)
    if row is None:
        raise Http404
    return row


def _page(request, request_id: str, form: DisputeForm | None = None, status: int = 200):
    row = _record(request, request_id)
    receipt = receipt_of(account_id=request.portal.account.pk, request_id=request_id)
    # Any charge may be disputed, with or without a receipt that verifies (that is a reason to).
    disputable = receipt.dispute is None and row["cost_micros"] > 0
    context = {"page": "usage", "row": row, "receipt": receipt, "disputable": disputable, "form": form or DisputeForm()}
    return render(request, "portal/usage/receipt.html", context, status=status)


@member_required
def receipt(request, request_id: str):
    return _page(request, request_id)


@member_required
@require_POST
def dispute(request, request_id: str):
    _record(request, request_id)
    form = DisputeForm(request.POST)
    if form.is_valid():
        try:
            dispute_open(account_id=request.portal.account.pk, request_id=request_id,
                         reason=form.cleaned_data["reason"], actor=request.user.get_username())  # fmt: skip
        except DisputeError as exc:
            form.add_error(None, str(_ERRORS.get(exc.code, exc)))
        else:
            messages.success(request, _("Your dispute was sent. We will mail you when it is resolved."))
            return redirect("portal:usage_receipt", request_id=request_id)
    return _page(request, request_id, form=form, status=400)
