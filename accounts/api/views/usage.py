"""Customer scope: usage (filtered, per request, CSV), daily spend and the ledger."""

import django_filters
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from billing.models import LedgerEntry, UsageRecord

from ...portal import selectors as portal_selectors
from ...portal.forms import FILTER_DATES
from ...portal.views.usage import CSV_COLUMNS, _csv_line, _csv_row
from ..serializers import customer as s
from .base import CustomerViewSet

REQUEST_ID = r"[\x21-\x2e\x30-\x7e]{1,64}"  # printable ASCII but '/', the column's length (as the portal)


class UsageFilterSet(django_filters.FilterSet):
    """The portal's usage filter (accounts.portal.selectors.usage_queryset), spelled as query parameters."""

    start = django_filters.DateFilter(method="noop", help_text="First day (inclusive).")
    end = django_filters.DateFilter(method="noop", help_text="Last day (inclusive).")
    key = django_filters.NumberFilter(method="noop", help_text="An API key id.")
    project = django_filters.NumberFilter(method="noop", help_text="A project id: requests of its keys.")
    model = django_filters.CharFilter(method="noop", max_length=128)
    status = django_filters.ChoiceFilter(method="noop", choices=[(c, c) for c in portal_selectors.STATUS_CHOICES])
    request_id = django_filters.CharFilter(method="noop", max_length=64)

    class Meta:
        model = UsageRecord
        fields = ()

    def noop(self, queryset, name, value):
        return queryset

    def is_valid(self):
        valid = super().is_valid()
        for name in ("start", "end"):
            day = self.form.cleaned_data.get(name) if valid else None
            if day is not None and not FILTER_DATES[0] <= day <= FILTER_DATES[1]:
                self.form.add_error(name, f"between {FILTER_DATES[0]} and {FILTER_DATES[1]}")
                valid = False
        for name in ("key", "project"):
            value = self.form.cleaned_data.get(name) if valid else None
            if value is not None and not 0 < value < 2**63:
                self.form.add_error(name, f"not a {name} id")
                valid = False
        return valid

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        flt = portal_selectors.UsageFilter(
            start=data.get("start"), end=data.get("end"), key_id=int(data["key"]) if data.get("key") else None,
            model=data.get("model") or "", status=data.get("status") or "", request_id=data.get("request_id") or "",
        )  # fmt: skip
        records = portal_selectors.usage_queryset(account_id=self.request.scope.account_id, flt=flt)
        if data.get("project"):
            records = records.filter(api_key__project_id=int(data["project"]))
        return records.select_related("api_key")


class UsageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerViewSet):
    serializer_class = s.UsageSerializer
    filterset_class = UsageFilterSet
    lookup_field = "request_id"
    lookup_value_regex = REQUEST_ID

    def get_queryset(self):
        return UsageRecord.objects.filter(account_id=self.account_id).select_related("api_key")

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Every matching request.")},
    )
    @action(detail=False, methods=["get"], url_path="export", pagination_class=None)
    def export(self, request):
        """Every matching row as CSV, streamed (the portal's columns and formula-safe cells)."""
        filterset = UsageFilterSet(request.GET, queryset=self.get_queryset(), request=request)
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        qs = filterset.qs.values(*portal_selectors.USAGE_FIELDS).order_by("-created_at", "-id")

        def lines():
            yield _csv_line(CSV_COLUMNS)
            for row in qs.iterator(chunk_size=2000):
                yield _csv_row(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


class DailySpendViewSet(CustomerViewSet):
    pagination_class = None
    queryset = LedgerEntry.objects.none()  # for the schema only: list() reads through the portal's selector

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="How many days back, 1–366 (default 30).")],
        responses=s.DailySpendSerializer(many=True),
    )
    def list(self, request):
        raw = request.query_params.get("days", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= 366:
            raise serializers.ValidationError({"days": ["an integer from 1 to 366"]})
        rows = portal_selectors.charges_by_day(account_id=self.account_id, days=int(raw))
        return Response(s.DailySpendSerializer(rows, many=True).data)


class LedgerFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry.Kind.choices)

    class Meta:
        model = LedgerEntry
        fields = ("kind",)


class LedgerViewSet(mixins.ListModelMixin, CustomerViewSet):
    serializer_class = s.LedgerSerializer
    filterset_class = LedgerFilterSet

    def get_queryset(self):
        return LedgerEntry.objects.filter(wallet__account_id=self.account_id)
