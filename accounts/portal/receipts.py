"""A request's receipt as the portal shows it: the JWS kept when it was sent, checked here (signature
against the published keys, then the ledger), its claims, and the request's dispute if any."""

from dataclasses import dataclass
from typing import Any

from billing.models import Dispute, Receipt
from gateway.receipts.check import ReceiptInvalid, check


@dataclass
class ReceiptView:
    request_id: str
    jws: str | None
    valid: bool
    problem: str
    claims: dict[str, Any]
    dispute: Dispute | None


def receipt_of(*, account_id: int, request_id: str) -> ReceiptView:
    stored = Receipt.objects.filter(account_id=account_id, request_id=request_id).first()
    dispute = Dispute.objects.filter(account_id=account_id, request_id=request_id).first()
    view = ReceiptView(request_id, stored.jws if stored else None, False, "", {}, dispute)
    if stored is None:
        return view
    try:
        checked = check(stored.jws)
    except ReceiptInvalid as exc:
        view.problem = str(exc)
        return view
    view.claims, view.valid, view.problem = checked.claims, checked.ok, "; ".join(checked.problems)
    return view
