"""HTTP endpoints of billing: payment provider webhooks. They translate HTTP and call one service.

One view for every provider, dispatched by the registry: Stripe's endpoint is /billing/webhooks/stripe/,
Alipay's /billing/webhooks/alipay/. Each provider shapes its own reply (Alipay wants `success`).
"""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import autotopup
from .alerts import operator_alert
from .payments import (
    CardSetupEvent,
    PaymentError,
    PaymentEvent,
    UnknownProvider,
    WebhookMismatchError,
    WebhookReply,
    WebhookSignatureError,
    get_provider,
)
from .topups import Outcome, topup_complete_from_event

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by the provider's signature, not a session
@require_POST
def payment_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """Refused (Stripe 400, Alipay `fail`, WeChat 400 FAIL) for anything not provably from the provider or
    not for us, and for a payment we cannot book: an unknown order or another amount (never credited;
    the amount alerts operators). Accepted for every other verified notification, acted on or not, so the
    provider stops resending it. Errors of our own (database down) are 500s, which providers retry."""
    try:
        payments = get_provider(provider)
    except UnknownProvider:
        return JsonResponse({"error": "unknown payment provider"}, status=404)
    if not payments.is_configured():
        return JsonResponse({"error": "payment provider not configured"}, status=404)
    try:
        event = payments.parse_webhook(payload=request.body, headers=request.headers)
    except WebhookMismatchError as exc:
        logger.error("%s webhook for someone else refused: %s", provider, exc)
        operator_alert(subject=f"{provider} notification for another merchant", message=str(exc))
        return _reply(payments.webhook_reply(accepted=False, message="not for this merchant"))
    except WebhookSignatureError as exc:
        logger.warning("%s webhook refused: %s", provider, exc)
        return _reply(payments.webhook_reply(accepted=False, message="invalid signature"))
    if event is None:
        return _reply(payments.webhook_reply(accepted=True, message="ignored"))
    if isinstance(event, CardSetupEvent):
        return _card_saved(payments, event)
    outcome = topup_complete_from_event(event)
    refused = event.kind == PaymentEvent.PAID and outcome in (Outcome.UNKNOWN_ORDER, Outcome.FAILED)
    return _reply(payments.webhook_reply(accepted=not refused, message=outcome.value))


def _card_saved(payments, event: CardSetupEvent) -> HttpResponse:
    """A card saved for auto top-up: we ask Stripe what it saved. Refused (so resent) when Stripe cannot
    be asked; a session of a customer we did not make is refused and never kept."""
    try:
        saved = autotopup.card_saved(session_id=event.session_id)
    except PaymentError as exc:
        logger.warning("%s setup session %s not read: %s", event.provider, event.session_id, exc)
        return _reply(payments.webhook_reply(accepted=False, message="try again"))
    except autotopup.AutoTopUpError as exc:
        return _reply(payments.webhook_reply(accepted=False, message=exc.reason))
    return _reply(payments.webhook_reply(accepted=True, message="card saved" if saved else "ignored"))


def _reply(reply: WebhookReply) -> HttpResponse:
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
