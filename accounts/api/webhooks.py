"""Webhooks: endpoints (HTTPS only; loopback/private hosts refused), events fanned out to a delivery log,
signed sending with retries and backoff (the Celery task in accounts/tasks.py), redelivery.

Hosts are checked twice: the URL's literal host when the endpoint is saved (gateway.relay.url_policy's rule),
and every address the name resolves to just before each attempt, since a public name may point inside
our network. Redirects are never followed. HARNMODEL_WEBHOOK_ALLOWED_HOSTS (names, *.suffix, IPs, CIDRs)
lets an operator allow internal receivers, as a channel's allow_url_hosts does for upstreams."""

import hashlib
import json
import logging
import socket
import ssl
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.crypto import decrypt_secret, encrypt_secret
from gateway.relay import url_policy
from gateway.wire.errors import InvalidRequest

from ..models import WebhookDelivery, WebhookEndpoint
from . import webhook_signing

logger = logging.getLogger(__name__)

# Payloads of each event: README ("Webhooks"). The event names are the contract; never rename one.
CUSTOMER_EVENTS = ("balance.low", "topup.credited", "autotopup.failed", "spend.limit_reached", "key.expiring",
                   "dispute.resolved", "webhook.test")  # fmt: skip
OPERATOR_EVENTS = ("channel.disabled", "channel.demoted", "credential.disabled", "upstream.balance_low",
                   "reconcile.drift", "webhook.test")  # fmt: skip
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600)  # after attempt 1, 2, …: 6 attempts over ~7 hours
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
MAX_ENDPOINTS = 20  # per account (and for operators): each event is one request per endpoint
TIMEOUT_SECONDS = 10


class WebhookError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _allowlist() -> list[str]:
    return list(getattr(settings, "HARNMODEL_WEBHOOK_ALLOWED_HOSTS", []) or [])


def check_endpoint_url(url: str) -> None:
    """Raises WebhookError unless `url` is an https URL whose literal host is public (or allowlisted)."""
    if urlsplit(url).scheme.lower() != "https":
        raise WebhookError("https_required", "Webhook endpoints must be https:// URLs.")
    try:
        flagged = url_policy.check_url(url, "url")
    except InvalidRequest as exc:
        raise WebhookError("url_not_allowed", str(exc)) from exc
    if flagged is not None and not url_policy.host_allowed(flagged, _allowlist()):
        raise WebhookError("url_not_allowed", "Webhook endpoints may not point to loopback or private addresses.")


def _resolved_public(url: str) -> None:
    """Just before sending: every address the host resolves to must be public (or allowlisted)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    port = urlsplit(url).port or 443
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookError("dns_failed", f"cannot resolve {host}") from exc
    for info in infos:
        address = url_policy.literal_address(str(info[4][0]))
        flagged = url_policy.Flagged("url", host, address)
        if (address is None or not url_policy.address_is_public(address)) and not url_policy.host_allowed(flagged, _allowlist()):
            raise WebhookError("url_not_allowed", f"{host} resolves to a non-public address")


def _check_events(events: list[str], account_id: int | None) -> list[str]:
    allowed = CUSTOMER_EVENTS if account_id is not None else OPERATOR_EVENTS
    unknown = sorted(set(events) - set(allowed))
    if unknown:
        raise WebhookError("unknown_event", f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(events))


@transaction.atomic
def endpoint_create(*, account_id: int | None, url: str, events: list[str], description: str = "") -> tuple:
    """A new endpoint and its signing secret (returned once; stored encrypted)."""
    check_endpoint_url(url)
    events = _check_events(events, account_id)
    if WebhookEndpoint.objects.filter(account_id=account_id).count() >= MAX_ENDPOINTS:
        raise WebhookError("endpoint_limit", f"At most {MAX_ENDPOINTS} webhook endpoints.")
    secret = webhook_signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(account_id=account_id, url=url, events=events,
                                              description=description, secret_encrypted=encrypt_secret(secret))
    return endpoint, secret


def endpoint_update(*, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    if "url" in changes:
        check_endpoint_url(changes["url"])
    if "events" in changes:
        changes["events"] = _check_events(changes["events"], endpoint.account_id)
    for field in ("url", "events", "description", "enabled"):
        if field in changes:
            setattr(endpoint, field, changes[field])
    endpoint.save()
    return endpoint


def _message_id(once: str | None, endpoint_id: int) -> str:
    if once is None:
        return f"msg_{uuid.uuid4().hex}"
    return "msg_" + hashlib.sha256(f"{once}|{endpoint_id}".encode()).hexdigest()[:32]


def emit(*, account_id: int | None, event_type: str, data: dict, once: str | None = None) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint that wants the event; each is sent once the transaction commits.

    With `once` (a string naming the occurrence, e.g. "key.expiring:12:7d:…"), an endpoint gets the event
    at most once whoever emits it how often: its `webhook-id` is derived from `once`, and ids are unique."""
    endpoints = WebhookEndpoint.objects.filter(account_id=account_id, enabled=True)
    payload = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    deliveries = []
    for endpoint in endpoints:
        if endpoint.events and event_type not in endpoint.events:
            continue
        message_id = _message_id(once, endpoint.pk)
        if once is not None and WebhookDelivery.objects.filter(message_id=message_id).exists():
            continue
        try:
            with transaction.atomic():  # two workers emitting the same `once` at the same moment: one row
                deliveries.append(WebhookDelivery.objects.create(endpoint=endpoint, message_id=message_id,
                                                                 event_type=event_type, payload=payload))  # fmt: skip
        except IntegrityError:
            continue
    for delivery in deliveries:
        enqueue(delivery.pk)
    return deliveries


def enqueue(delivery_id: int, countdown: int = 0) -> None:
    from ..tasks import deliver_webhook

    # robust: a broker that is down must not fail the caller after its commit (a money path, a scoring job);
    # the delivery row is there, and the sweeper sends what was never queued.
    transaction.on_commit(lambda: deliver_webhook.apply_async(args=[delivery_id], countdown=countdown), robust=True)


def backoff_seconds(attempts: int) -> int | None:
    """Wait before the next attempt after `attempts` failed ones; None when none is left."""
    return BACKOFF_SECONDS[attempts - 1] if attempts < MAX_ATTEMPTS else None


def attempt(delivery_id: int) -> WebhookDelivery | None:
    """Send one pending delivery once; on failure schedule the next attempt (or give up).

    The row stays locked while it is sent: a second task for the same delivery (the sweeper's, or a
    broker's redelivery) skips it instead of sending it twice at once, and finds it settled afterwards."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("endpoint").filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
                    .first())  # fmt: skip
        if delivery is None:
            return None
        return _send(delivery)


def _send(delivery: WebhookDelivery) -> WebhookDelivery:
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    status_code, error = None, ""
    try:
        if not endpoint.enabled:
            raise WebhookError("endpoint_disabled", "the endpoint is disabled")
        check_endpoint_url(endpoint.url)
        _resolved_public(endpoint.url)
        headers = webhook_signing.headers(decrypt_secret(endpoint.secret_encrypted), delivery.message_id, body)
        bundle = getattr(settings, "HARNMODEL_WEBHOOK_CA_BUNDLE", "")
        verify = ssl.create_default_context(cafile=bundle) if bundle else True
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, verify=verify) as client:
            response = client.post(endpoint.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except WebhookError as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status_code, error[:300]
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, now, None
    else:
        wait = backoff_seconds(delivery.attempts)
        if wait is None:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        logger.info("webhook %s attempt %s failed: %s", delivery.message_id, delivery.attempts, error)
    delivery.save(update_fields=["attempts", "last_status_code", "last_error", "status", "delivered_at",
                                 "next_attempt_at"])  # fmt: skip
    if delivery.next_attempt_at is not None:  # after the save: the next attempt reads this one's count
        enqueue(delivery.pk, countdown=int((delivery.next_attempt_at - now).total_seconds()))
    return delivery


@transaction.atomic
def redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again (same `webhook-id`, a fresh set of attempts), whatever happened before."""
    # Due now: the sweeper picks it up if this enqueue is lost, and not before its grace has passed.
    delivery.status, delivery.attempts, delivery.next_attempt_at = WebhookDelivery.Status.PENDING, 0, timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    enqueue(delivery.pk)
    return delivery


def emit_dispute_resolved(dispute) -> None:
    """Tell the customer a dispute was decided (`dispute.resolved`), once per dispute. Takes any object with
    account_id, pk (or id), and as far as it has them: request_id, outcome (or status), refund_micros,
    resolution (a note for the customer) and resolved_at. Payload `data`:
    {"dispute": id, "request_id": str|null, "outcome": str, "refund_micros": int, "resolution": str,
     "resolved_at": ISO time}. Never raises: a webhook fault must not undo the decision."""
    dispute_id = getattr(dispute, "pk", None) or getattr(dispute, "id", None)
    data = {
        "dispute": dispute_id,
        "request_id": getattr(dispute, "request_id", None),
        "outcome": str(getattr(dispute, "outcome", None) or getattr(dispute, "status", "") or ""),
        "refund_micros": int(getattr(dispute, "refund_micros", 0) or 0),
        "resolution": str(getattr(dispute, "resolution", "") or "")[:1000],
        "resolved_at": getattr(dispute, "resolved_at", None) or timezone.now(),
    }
    emit_safely(account_id=dispute.account_id, event_type="dispute.resolved", data=data,
                 once=f"dispute.resolved:{dispute_id}")  # fmt: skip


def emit_safely(**kwargs) -> None:
    """Senders are money paths (a top-up being credited): a webhook fault must never undo them. The
    savepoint keeps a failed insert from poisoning the sender's transaction."""
    try:
        with transaction.atomic():
            emit(**kwargs)
    except Exception:
        logger.exception("webhook event %s not recorded", kwargs.get("event_type"))


def _on_customer_event(sender, *, account_id: int, event_type: str, data: dict, once=None, **kwargs) -> None:
    emit_safely(account_id=account_id, event_type=event_type, data=data, once=once)


def _on_platform_event(sender, *, event_type: str, data: dict, once=None, **kwargs) -> None:
    emit_safely(account_id=None, event_type=event_type, data=data, once=once)


def connect() -> None:
    from billing.signals import customer_event, platform_event

    customer_event.connect(_on_customer_event, dispatch_uid="accounts.webhooks.customer")
    platform_event.connect(_on_platform_event, dispatch_uid="accounts.webhooks.platform")
