"""The relay's one call: a settled, billed request → its signed receipt (kept for the portal in the background)."""

import asyncio
import logging

from django.conf import settings

from billing import receipt_store
from billing.models import Receipt
from billing.pricing import Usage
from billing.services import Settlement
from gateway.receipts import claims, jws, keys
from gateway.relay.attempts import Admission, Outcome, _background

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
    _keep(admission.request_id, admission.key.account_id, signer.kid, receipt)
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


# Receipts waiting to be kept: the receipts of concurrent requests go into one INSERT (a row each would
# cost every request a statement of its own).
_pending: list[Receipt] = []
_flusher: asyncio.Task | None = None
FLUSH_DELAY = 0.02


def _keep(request_id: str, account_id: int, kid: str, receipt: str) -> None:
    global _flusher
    _pending.append(Receipt(request_id=request_id, account_id=account_id, kid=kid, jws=receipt))
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush())
        _background.add(_flusher)  # awaited like the relay's own background work (settlements)
        _flusher.add_done_callback(_background.discard)


async def _flush() -> None:
    while _pending:
        await asyncio.sleep(FLUSH_DELAY)
        rows = _pending[:]
        _pending.clear()
        try:
            await receipt_store.keep(rows)
        except Exception:  # the clients have their receipts; only the portal's copies are missing
            log.exception("%d receipts not kept", len(rows))
