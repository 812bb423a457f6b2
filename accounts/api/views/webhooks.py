"""Webhook endpoints and their delivery log, for a customer (their account's) and for operators (account-less).

One implementation, two scopes: `_scope_account_id()` is the request's account, or None for operators."""

import uuid
from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from billing.signals import operator_action

from ...models import WebhookDelivery, WebhookEndpoint
from .. import webhooks
from ..errors import ApiProblem
from ..serializers import customer as s
from .base import CustomerViewSet, OperatorViewSet

ENDPOINT_STATUS = {"https_required": 400, "url_not_allowed": 400, "unknown_event": 400, "endpoint_limit": 409}


def _refused(exc: webhooks.WebhookError) -> ApiProblem:
    param = {"unknown_event": "events", "endpoint_limit": None}.get(exc.code, "url")
    return ApiProblem(ENDPOINT_STATUS.get(exc.code, 400), exc.code, str(exc), param=param)


class _Endpoints(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    serializer_class = s.WebhookEndpointSerializer

    def _scope_account_id(self) -> int | None:
        raise NotImplementedError

    def _audit(self, action_name: str, endpoint, **state) -> None:
        pass  # customers' own writes are not the console's audit trail

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(account_id=self._scope_account_id())

    @extend_schema(request=s.WebhookEndpointSerializer, responses={201: s.WebhookEndpointCreatedSerializer})
    def create(self, request):
        body = s.WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            endpoint, secret = webhooks.endpoint_create(account_id=self._scope_account_id(), url=data["url"],
                                                        events=data["events"], description=data["description"])
        except webhooks.WebhookError as exc:
            raise _refused(exc) from exc
        self._audit("webhook_add", endpoint, after={"url": endpoint.url, "events": endpoint.events})
        payload = {**s.WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(payload, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=s.WebhookEndpointSerializer, responses=s.WebhookEndpointSerializer)
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        body = s.WebhookEndpointSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        before = {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}
        try:
            endpoint = webhooks.endpoint_update(endpoint=endpoint, changes=dict(body.validated_data))
        except webhooks.WebhookError as exc:
            raise _refused(exc) from exc
        self._audit("webhook_change", endpoint, before=before,
                    after={"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled})
        return Response(s.WebhookEndpointSerializer(endpoint).data)

    def perform_destroy(self, instance):
        self._audit("webhook_delete", instance, before={"url": instance.url})
        instance.delete()

    @extend_schema(request=None, responses={201: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a `webhook.test` event to this endpoint now, whatever events it subscribes to."""
        endpoint = self.get_object()
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, message_id=f"msg_{uuid.uuid4().hex}", event_type="webhook.test",
            payload={"type": "webhook.test", "data": {"endpoint": endpoint.pk}},
        )
        webhooks.enqueue(delivery.pk)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


class DeliveryFilter(django_filters.FilterSet):
    endpoint = django_filters.NumberFilter(field_name="endpoint_id", min_value=1, max_value=2**63 - 1)
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)

    class Meta:
        model = WebhookDelivery
        fields = ()


class _Deliveries(mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = s.WebhookDeliverySerializer
    filterset_class = DeliveryFilter

    def get_queryset(self):
        return WebhookDelivery.objects.filter(endpoint__account_id=self._scope_account_id())

    @extend_schema(request=None, responses=s.WebhookDeliverySerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = webhooks.redeliver(delivery=self.get_object())
        self._audit("webhook_redeliver", delivery.endpoint, after={"message_id": delivery.message_id})
        return Response(s.WebhookDeliverySerializer(delivery).data)

    def _audit(self, action_name: str, endpoint, **state) -> None:
        pass


class WebhookViewSet(_Endpoints, CustomerViewSet):
    owner_actions = ("create", "partial_update", "destroy", "test")

    def _scope_account_id(self):
        return self.account_id


class WebhookDeliveryViewSet(_Deliveries, CustomerViewSet):
    owner_actions = ("redeliver",)

    def _scope_account_id(self):
        return self.account_id


class _OperatorAudit:
    request: Any  # set by the DRF view this is mixed into

    def _scope_account_id(self):
        return None

    def _audit(self, action_name: str, endpoint, **state) -> None:
        operator_action.send(sender=None, actor=self.request.user, action=action_name, obj=endpoint, **state)


WRITE = ["accounts.change_webhookendpoint"]
READ = ["accounts.view_webhookendpoint"]


class OpsWebhookViewSet(_OperatorAudit, _Endpoints, OperatorViewSet):
    operator_perms = {"list": READ, "retrieve": READ, "create": WRITE, "partial_update": WRITE, "destroy": WRITE,
                      "test": WRITE}  # fmt: skip


class OpsWebhookDeliveryViewSet(_OperatorAudit, _Deliveries, OperatorViewSet):
    operator_perms = {"list": READ, "retrieve": READ, "redeliver": WRITE}
