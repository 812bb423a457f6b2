"""Console CSV exports and the customer filter for the money lists (ledger, usage, top-up orders).

The "Export CSV" button exports the list exactly as filtered on screen (search, sidebar filters, date
drill-down, ordering) by building the admin's own ChangeList for the same query string; the action
exports the ticked rows (or all of them with "select all"). Both stream, and both are audited."""

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from .exports import SPECS, csv_chunks
from .signals import operator_action

_MAX_ACCOUNT_ID = 2**63 - 1


class CustomerFilter(admin.SimpleListFilter):
    """A text box (account id or email) instead of a list of every customer, which would not scale."""

    title = "customer"
    parameter_name = "customer"
    template = "admin/billing/customer_filter.html"
    account_path = "account"  # from the listed model to accounts.Account

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if value.isdigit():
            if int(value) > _MAX_ACCOUNT_ID:  # the database would overflow, and no such account exists
                return queryset.none()
            return queryset.filter(**{f"{self.account_path}_id": int(value)})
        return queryset.filter(**{f"{self.account_path}__email__iexact": value})

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        others = changelist.get_query_string(remove=[self.parameter_name])
        yield {
            "parameter": self.parameter_name,
            "value": self.value() or "",
            "hidden": parse_qsl(others.lstrip("?"), keep_blank_values=True),
            "clear": others,
        }


def customer_filter(account_path: str) -> type[CustomerFilter]:
    return type("CustomerFilter", (CustomerFilter,), {"account_path": account_path})


async def _across_threads(chunks: Iterator[str]) -> AsyncIterator[str]:
    # Under ASGI a sync iterator is read whole into memory before the first byte goes out; instead
    # each chunk crosses into the (thread-sensitive) database thread on its own.
    def take() -> str | None:
        return next(chunks, None)

    while (chunk := await sync_to_async(take)()) is not None:
        yield chunk


if TYPE_CHECKING:  # the mixin is only ever mixed into a ModelAdmin; say so to the type checker
    from django.contrib.admin import ModelAdmin as _AdminBase
else:
    _AdminBase = object


class CsvExportMixin(_AdminBase):
    """For a read-only ModelAdmin of a model in billing.exports.SPECS. Needs the view permission."""

    change_list_template = "admin/billing/export_change_list.html"

    def get_urls(self) -> list:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.export_view)
        return [path("export-csv/", view, name=f"{opts.app_label}_{opts.model_name}_export"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_export": self.has_view_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_actions(self, request: HttpRequest) -> dict:
        # Added here rather than in `actions`, so a subclass listing its own actions keeps this one.
        actions = super().get_actions(request)
        if IS_POPUP_VAR not in request.GET and self.has_view_permission(request):
            func, name, description = self.get_action("export_csv")
            actions[name] = (func, name, description)
        return actions

    @admin.action(description="Export selected rows as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self.csv_response(request, queryset, rows=queryset.count(), scope="selected rows")

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters do not apply to this list.")
        return self.csv_response(request, changelist.queryset, rows=changelist.result_count, scope="filtered list")

    def csv_response(self, request: HttpRequest, queryset: QuerySet, *, rows: int, scope: str) -> HttpResponse:
        spec = SPECS[self.model]
        opts = self.model._meta
        operator_action.send(
            sender=self.model,
            actor=request.user,
            action="csv_export",
            object_type=opts.label_lower,
            object_repr=f"{opts.verbose_name_plural} CSV export ({scope})",
            after={"rows": rows, "scope": scope, "query": request.GET.urlencode()},
        )
        chunks = csv_chunks(spec, queryset)
        body = _across_threads(chunks) if isinstance(request, ASGIRequest) else chunks
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="{spec.name}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
