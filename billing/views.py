"""HTTP endpoints of billing: payment provider webhooks. They translate HTTP and call one service.

One view for every provider, dispatched by the registry: Stripe's endpoint is /billing/webhooks/stripe/.
"""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .payments import UnknownProvider, WebhookSignatureError, get_provider
from .topups import topup_complete_from_event

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by the provider's signature, not a session
@require_POST
def payment_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """400 for anything not provably from the provider (it will not retry a request we could never
    accept); 200 for every verified event, acted on or not, so the provider stops resending it.
    Errors of our own (database down) are 500s, which the provider retries."""
    try:
        payments = get_provider(provider)
    except UnknownProvider:
        return JsonResponse({"error": "unknown payment provider"}, status=404)
    try:
        event = payments.parse_webhook(payload=request.body, headers=request.headers)
    except WebhookSignatureError as exc:
        logger.warning("%s webhook refused: %s", provider, exc)
        return JsonResponse({"error": "invalid signature"}, status=400)
    if event is None:
        return JsonResponse({"status": "ignored"})
    outcome = topup_complete_from_event(event)
    return JsonResponse({"status": outcome.value})
