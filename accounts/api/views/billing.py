"""Customer scope: top-up orders (start a checkout or QR, read status), redeem a code, models with prices."""

import uuid

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from billing.models import LedgerEntry, TopUpOrder
from gateway.models import CatalogModel

from ...portal import billing_hooks, throttle
from ...portal import selectors as portal_selectors
from ...portal.views import site_url
from ..errors import ApiProblem
from ..pagination import IdCursorPagination
from ..serializers import customer as s
from .base import CustomerViewSet


class CreatedCursor(IdCursorPagination):
    ordering = ("-created_at", "-pk")  # type: ignore[assignment]  # order ids are random UUIDs: DRF takes a tuple too


class TopUpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerViewSet):
    serializer_class = s.TopUpSerializer
    pagination_class = CreatedCursor
    owner_actions = ("create",)  # as in the portal: owners pay
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        return TopUpOrder.objects.filter(account_id=self.account_id)

    def get_object(self):
        try:
            order_id = uuid.UUID(self.kwargs["pk"])
        except ValueError as exc:  # not a UUID: no such order either
            raise ApiProblem(404, "not_found", "No such top-up.") from exc
        order = billing_hooks.topup_order(account_id=self.account_id, order_id=order_id)
        if order is None:
            raise ApiProblem(404, "not_found", "No such top-up.")
        return order

    @extend_schema(request=s.TopUpStartSerializer, responses={201: s.TopUpStartedSerializer})
    def create(self, request):
        body = s.TopUpStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        providers = [name for name, _ in billing_hooks.topup_providers()]
        if not providers:
            raise ApiProblem(409, "topup_unavailable", "Online payments are not available.")
        provider = data["provider"] or providers[0]
        back = site_url() + reverse("portal:billing")
        try:
            started = billing_hooks.topup_start(
                account_id=self.account_id, amount_micros=data["amount_micros"], provider=provider,
                success_url=data["success_url"] or back + "?topup=success",
                cancel_url=data["cancel_url"] or back + "?topup=cancel",
            )  # fmt: skip
        except billing_hooks.TopUpError as exc:
            raise ApiProblem(400, "topup_refused", "The payment could not be started.", param="amount_micros") \
                from exc  # fmt: skip
        payload = {"order": s.TopUpSerializer(started.order).data, "checkout_url": started.redirect_url or "",
                   "qr_code": started.qr_code or ""}  # fmt: skip
        return Response(payload, status=status.HTTP_201_CREATED)


class RedeemViewSet(CustomerViewSet):
    queryset = LedgerEntry.objects.none()  # for the schema only
    @extend_schema(request=s.RedeemSerializer, responses={201: s.LedgerSerializer})
    def create(self, request):
        body = s.RedeemSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account_key = str(self.account_id)
        if throttle.REDEEM.blocked(account_key):  # the portal's cap on guesses, shared with it
            raise ApiProblem(429, "too_many_attempts", "Too many attempts. Try again in an hour.")
        try:
            entry = billing_hooks.code_redeem(
                account_id=self.account_id, code=body.validated_data["code"], actor=request.scope.actor
            )
        except billing_hooks.RedemptionError as exc:
            throttle.REDEEM.fail(account_key)
            code = exc.reason if exc.reason in ("code_expired", "code_redeemed") else "code_unknown"
            raise ApiProblem(400, code, "This code cannot be redeemed.", param="code") from exc
        return Response(s.LedgerSerializer(entry).data, status=status.HTTP_201_CREATED)


class ModelViewSet(CustomerViewSet):
    pagination_class = None
    queryset = CatalogModel.objects.none()  # for the schema only: list() reads through the portal's selector

    @extend_schema(responses=s.ModelPriceSerializer(many=True))
    def list(self, request):
        rows = portal_selectors.models_with_prices(account_id=self.account_id)  # the account's group prices
        return Response(s.ModelPriceSerializer(rows, many=True).data)
