"""Operator scope: channels (secrets write-only), models and price publication, redemption-code batches.

Channel writes go through the console's own form (gateway.console.forms.ChannelAdminForm): one set of rules."""

import json

from django.db.models import Count, Sum
from django.forms.models import model_to_dict
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from billing import redemption
from billing import services as billing_services
from billing.models import RedemptionCode
from billing.signals import operator_action
from gateway.console.forms import TIMEOUT_FIELDS, ChannelAdminForm
from gateway.models import CatalogModel, Channel, ChannelProbe
from gateway.relay.catalog import clear_caches

from ..errors import ApiProblem
from ..serializers import ops as s
from .base import OperatorViewSet

CHANNEL_STATE = ("name", "provider", "base_url", "priority", "weight", "enabled", "secret_hint")
PROBES_SHOWN = 50


def _state(channel: Channel) -> dict:
    return {name: getattr(channel, name) for name in CHANNEL_STATE}


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OperatorViewSet):
    serializer_class = s.ChannelSerializer
    operator_perms = {
        "list": ["gateway.view_channel"], "retrieve": ["gateway.view_channel"], "health": ["gateway.view_channel"],
        "create": ["gateway.add_channel"], "partial_update": ["gateway.change_channel"],
    }  # fmt: skip

    def get_queryset(self):
        return Channel.objects.prefetch_related("model_maps__model", "credentials")

    def _save(self, request, channel: Channel | None, partial: bool) -> Response:
        body = s.ChannelWriteSerializer(data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        current = model_to_dict(channel, fields=["name", "provider", "base_url", "priority", "weight", "enabled",
                                                 "options", *TIMEOUT_FIELDS]) if channel else {}  # fmt: skip
        fields = {**current, **data}
        fields["new_secret"] = fields.pop("secret", "")
        form = ChannelAdminForm(data=fields, instance=channel)
        # A JSONField form field takes text: hand it the dict as JSON.
        form.data["options"] = json.dumps(fields.get("options") or {})
        if not form.is_valid():
            raise ValidationError({("secret" if k == "new_secret" else k): list(v) for k, v in form.errors.items()})
        before = _state(channel) if channel else {}
        saved = form.save()
        clear_caches()  # this process at once; other workers within HARNMODEL_CATALOG_CACHE_SECONDS
        operator_action.send(sender=None, actor=request.user, action="channel_change" if channel else "channel_add",
                             obj=saved, before=before, after=_state(saved))  # fmt: skip
        code = status.HTTP_200_OK if channel else status.HTTP_201_CREATED
        return Response(s.ChannelSerializer(self.get_queryset().get(pk=saved.pk)).data, status=code)

    @extend_schema(request=s.ChannelWriteSerializer, responses={201: s.ChannelSerializer})
    def create(self, request):
        return self._save(request, None, partial=False)

    @extend_schema(request=s.ChannelWriteSerializer, responses=s.ChannelSerializer)
    def partial_update(self, request, pk=None):
        return self._save(request, self.get_object(), partial=True)

    @extend_schema(responses=s.ChannelHealthSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def health(self, request, pk=None):
        channel = self.get_object()
        probes = ChannelProbe.objects.filter(channel=channel).order_by("-created_at")[:PROBES_SHOWN]
        return Response(s.ChannelHealthSerializer({
            "channel": channel.pk, "enabled": channel.enabled, "disabled_reason": channel.disabled_reason,
            "last_probe_ok": channel.last_probe_ok, "probes": probes,
        }).data)  # fmt: skip


class ModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.UpdateModelMixin, OperatorViewSet):  # fmt: skip
    serializer_class = s.CatalogModelSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    operator_perms = {
        "list": ["gateway.view_catalogmodel"], "retrieve": ["gateway.view_catalogmodel"],
        "create": ["gateway.add_catalogmodel"], "partial_update": ["gateway.change_catalogmodel"],
        "prices": ["billing.add_price"],
    }  # fmt: skip

    def get_queryset(self):
        return CatalogModel.objects.all()

    def perform_create(self, serializer):
        model = serializer.save()
        clear_caches()
        operator_action.send(sender=None, actor=self.request.user, action="model_add", obj=model,
                             after=serializer.data)  # fmt: skip

    def perform_update(self, serializer):
        before = s.CatalogModelSerializer(serializer.instance).data
        model = serializer.save()
        clear_caches()
        operator_action.send(sender=None, actor=self.request.user, action="model_change", obj=model,
                             before=dict(before), after=dict(serializer.data))  # fmt: skip

    @extend_schema(request=s.PricePublishSerializer, responses={201: s.CatalogModelSerializer,
                                                               200: s.CatalogModelSerializer})  # 200: unchanged
    @action(detail=True, methods=["post"])
    def prices(self, request, pk=None):
        """Publish a new price version, effective now (prices are never edited)."""
        model = self.get_object()
        body = s.PricePublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        price, created = billing_services.price_publish(model_id=model.public_id, **body.validated_data)
        if created:
            clear_caches()
            operator_action.send(sender=None, actor=request.user, action="price_publish", obj=price,
                                 after={"model": model.public_id, **body.validated_data})  # fmt: skip
        return Response(s.CatalogModelSerializer(model).data, status=201 if created else 200)


class RedemptionBatchViewSet(OperatorViewSet):
    operator_perms = {"list": ["billing.view_redemptioncode"], "create": ["billing.add_redemptioncode"]}
    pagination_class = None
    queryset = RedemptionCode.objects.none()  # for the schema only: batches are aggregates

    @extend_schema(responses=s.RedemptionBatchSerializer(many=True))
    def list(self, request):
        rows = (RedemptionCode.objects.order_by().values("batch")
                .annotate(codes=Count("id"), redeemed=Count("redeemed_at"), amount_micros=Sum("amount_micros"))
                .order_by("batch"))  # fmt: skip
        return Response(s.RedemptionBatchSerializer(rows, many=True).data)

    @extend_schema(request=s.RedemptionBatchCreateSerializer, responses={201: s.RedemptionBatchCreatedSerializer})
    def create(self, request):
        body = s.RedemptionBatchCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            codes = redemption.redemption_codes_generate(created_by=request.user.get_username(), **data)
        except ValueError as exc:
            raise ApiProblem(400, "invalid", str(exc)) from exc
        operator_action.send(
            sender=None, actor=request.user, action="redemption_codes_generate", object_type="billing.redemptioncode",
            object_id=data["batch"], object_repr=f"batch {data['batch']}",
            after={"count": data["count"], "amount_micros": data["amount_micros"]},
        )  # fmt: skip
        return Response({"batch": data["batch"], "codes": codes}, status=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store"})  # fmt: skip
