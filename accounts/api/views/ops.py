"""Operator scope: customers, wallet adjustments, usage across accounts, operators' own management keys.

Permissions follow the console's roles (Django groups support / finance / admin): each action names the
Django permission the console checks for the same thing. Every write is audited like the console's."""

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from billing import services as billing_services
from billing.models import UsageRecord
from billing.signals import operator_action

from ...models import Account, ManagementKey
from .. import services
from ..errors import ApiProblem
from ..serializers import customer as cs
from ..serializers import ops as s
from .base import OperatorViewSet


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", max_length=200, help_text="Part of the email or name.")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Account
        fields = ("is_active",)

    def search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value))


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OperatorViewSet):
    serializer_class = s.CustomerSerializer
    filterset_class = CustomerFilter
    operator_perms = {"*": ["accounts.view_account"]}

    def get_queryset(self):
        return Account.objects.select_related("wallet")


class AdjustmentViewSet(OperatorViewSet):
    operator_perms = {"create": ["accounts.adjust_balance"]}

    @extend_schema(request=s.AdjustmentSerializer, responses={201: s.AdjustmentResultSerializer})
    def create(self, request):
        body = s.AdjustmentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        account = Account.objects.filter(pk=data["account"]).first()
        if account is None:
            raise ApiProblem(404, "not_found", "No such customer.", param="account")
        try:
            entry = billing_services.wallet_adjust(
                account_id=account.pk, amount_micros=data["amount_micros"], reason=data["reason"],
                description=data["description"], actor=request.user.get_username(),
            )  # fmt: skip
        except billing_services.InsufficientBalance as exc:
            raise ApiProblem(409, "insufficient_balance", "This would take the available balance below zero.",
                             param="amount_micros") from exc  # fmt: skip
        except ValueError as exc:
            raise ApiProblem(400, "invalid", str(exc)) from exc
        amount = data["amount_micros"]
        # The same entry the console writes (accounts/admin.py adjust_balance_view), through the signal.
        operator_action.send(
            sender=None, actor=request.user, action="balance_adjust", obj=account,
            before={"balance_micros": entry.balance_after_micros - amount},
            after={"balance_micros": entry.balance_after_micros, "ledger_entry": entry.pk},
        )  # fmt: skip
        result = {"ledger_entry": entry.pk, "account": account.pk, "amount_micros": entry.amount_micros,
                  "balance_after_micros": entry.balance_after_micros}  # fmt: skip
        return Response(result, status=status.HTTP_201_CREATED)


class OpsUsageFilter(django_filters.FilterSet):
    account = django_filters.NumberFilter(field_name="account_id", min_value=1, max_value=2**63 - 1)
    model = django_filters.CharFilter(field_name="model_id", max_length=128)
    channel = django_filters.NumberFilter(field_name="channel_id", min_value=1, max_value=2**63 - 1)
    status = django_filters.NumberFilter(field_name="status", min_value=100, max_value=599)
    start = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    end = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = UsageRecord
        fields = ()


class UsageViewSet(mixins.ListModelMixin, OperatorViewSet):
    serializer_class = s.OpsUsageSerializer
    filterset_class = OpsUsageFilter
    operator_perms = {"*": ["billing.view_usagerecord"]}

    def get_queryset(self):
        return UsageRecord.objects.all()


class OperatorKeyViewSet(mixins.ListModelMixin, OperatorViewSet):
    """A staff member's own operator management keys: act as that user, with that user's role."""

    serializer_class = cs.ManagementKeySerializer
    operator_perms = {"*": []}  # any staff member, for their own keys only

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ManagementKey.objects.none()
        return ManagementKey.objects.filter(account=None, user=self.request.user)

    @extend_schema(request=cs.ManagementKeyCreateSerializer, responses={201: cs.ManagementKeyCreatedSerializer})
    def create(self, request):
        if isinstance(request.auth, ManagementKey):
            raise ApiProblem(403, "session_required", "Management keys are created from a signed-in session.")
        body = cs.ManagementKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, secret = services.management_key_issue(account_id=None, user=request.user,
                                                    name=body.validated_data["name"])  # fmt: skip
        operator_action.send(sender=None, actor=request.user, action="management_key_create", obj=key,
                             after={"prefix": key.prefix})  # fmt: skip
        data = {**cs.ManagementKeySerializer(key).data, "secret": secret}
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses=cs.ManagementKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        try:
            key = services.management_key_revoke(key_id=int(pk), account_id=None, user=request.user)
        except ManagementKey.DoesNotExist as exc:
            raise ApiProblem(404, "not_found", "No such management key.") from exc
        operator_action.send(sender=None, actor=request.user, action="management_key_revoke", obj=key,
                             after={"revoked_at": key.revoked_at.isoformat()})  # fmt: skip
        return Response(cs.ManagementKeySerializer(key).data)
