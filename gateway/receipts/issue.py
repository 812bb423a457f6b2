"""The relay's one call: a settled, billed request → its signed receipt (kept for the portal in the background)."""

import logging

from django.conf import settings

from billing.models import Receipt
from billing.pricing import Usage
from billing.services import Settlement
from gateway.db import run_db
from gateway.receipts import claims, jws, keys
from gateway.relay.attempts import Admission, Outcome, in_background

log = logging.getLogger("harnmodel.receipts")
HEADER = "x-harnmodel-receipt"


def enabled() -> bool:
    return bool(settings.HARNMODEL_RECEIPTS)


async def issue(admission: Admission, outcome: Outcome, door: str, settlement: Settlement) -> str | None:
    """The receipt for a billed answer; None for what was not billed (errors, nothing used, a replayed
    settlement). Signing is ~50 µs; the key is read from the database at most once a minute."""
    if not enabled() or settlement.replayed or outcome.usage is None or outcome.status >= 400:
        return None
    try:
        signer = await keys.signer()
        receipt = jws.sign(_claims(admission, outcome, door, settlement), signer)
    except Exception:  # a receipt must never fail a settled, answered request
        log.exception("receipt signing failed", extra={"request_id": admission.request_id})
        return None
    in_background(_keep(admission.request_id, admission.key.account_id, signer.kid, receipt))
    return receipt


def _claims(a: Admission, o: Outcome, door: str, settlement: Settlement) -> dict:
    return claims.claims(
        request_id=a.request_id,
        account_id=a.key.account_id,
        key_prefix=a.key.prefix,
        door=door,
        model=a.route.public_id,
        price_id=a.route.price.id if a.route.price is not None else None,
        usage=o.usage or Usage(),
        estimated=o.estimated,
        cost_micros=settlement.cost_micros,
        balance_micros=settlement.balance_micros,
    )


async def _keep(request_id: str, account_id: int, kid: str, receipt: str) -> None:
    try:
        await run_db(_store, request_id=request_id, account_id=account_id, kid=kid, receipt=receipt)
    except Exception:  # the client has its receipt; only the portal's copy is missing
        log.exception("receipt not stored", extra={"request_id": request_id})


def _store(*, request_id: str, account_id: int, kid: str, receipt: str) -> None:
    Receipt.objects.get_or_create(
        request_id=request_id, defaults={"account_id": account_id, "kid": kid, "jws": receipt}
    )
