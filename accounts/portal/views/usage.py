"""Usage: every request of the account, filtered, keyset-paginated, exported as streamed CSV."""

import csv
import io
import re

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.exports import cell
from billing.money import decimal_string, format_exact
from gateway import selectors as gateway_selectors

from .. import selectors
from ..access import member_required
from ..forms import UsageFilterForm
from ..pagination import Page

REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, the column's length
CSV_COLUMNS = (
    "time",
    "request_id",
    "key_name",
    "key_prefix",
    "model",
    "status",
    "error_code",
    "stream",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "latency_ms",
    "usage_estimated",
)


def _filter_form(request) -> UsageFilterForm:
    account_id = request.portal.account.pk
    keys = gateway_selectors.keys_of_account(account_id=account_id).order_by("-created_at")
    return UsageFilterForm(request.GET or None, keys=keys, models=selectors.usage_model_ids(account_id=account_id))


def _bad_filter(form: UsageFilterForm) -> bool:
    # An invalid filter is refused, never dropped: "no filter" would show (or export) every row.
    return form.is_bound and not form.is_valid()


@member_required
def usage(request):
    form = _filter_form(request)
    status = 400 if _bad_filter(form) else 200
    if status == 400:
        page = Page(rows=[], older=None, newer=None, first=True)
    else:
        page = selectors.usage_page(
            account_id=request.portal.account.pk,
            flt=form.to_filter(),
            after=request.GET.get("after"),
            before=request.GET.get("before"),
        )
    query = request.GET.copy()
    for name in ("after", "before"):
        query.pop(name, None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    # htmx swaps only the results when a filter changes or a page link is followed.
    template = "portal/usage/_results.html" if request.headers.get("HX-Request") else "portal/usage/list.html"
    return render(request, template, context, status=status)


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _csv_row(row: dict) -> str:
    # Text a customer (key name) or an upstream (error code) chose is defused against spreadsheet
    # formulas (=, +, -, @ first) exactly as the admin exports do; numbers we computed stay numbers.
    return _csv_line([
        timezone.localtime(row["created_at"]).isoformat(), cell(row["request_id"]), cell(row["api_key__name"]),
        cell(row["api_key__prefix"]), cell(row["model_id"]), row["status"], cell(row["error_code"]), row["stream"],
        row["input_tokens"], row["cached_input_tokens"], row["output_tokens"], row["reasoning_tokens"],
        decimal_string(row["cost_micros"]), row["latency_ms"], row["usage_estimated"],
    ])  # fmt: skip


@member_required
def usage_export(request):
    form = _filter_form(request)
    if _bad_filter(form):
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"Bad filter. {problems}\n", content_type="text/plain; charset=utf-8")
    chunks = selectors.usage_rows(account_id=request.portal.account.pk, flt=form.to_filter())

    def lines():
        yield _csv_line(CSV_COLUMNS)
        for chunk in chunks:
            yield "".join(_csv_row(row) for row in chunk)

    async def alines():
        # Under ASGI a sync iterator would be read whole into memory before the first byte is sent:
        # each chunk crosses into the database thread on its own instead.
        yield _csv_line(CSV_COLUMNS)
        iterator = iter(chunks)
        while (chunk := await sync_to_async(next)(iterator, None)) is not None:
            yield "".join(_csv_row(row) for row in chunk)

    body = alines() if isinstance(request, ASGIRequest) else lines()
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@member_required
def usage_record(request, request_id: str):
    """One request's record as JSON: the Playground shows what was actually charged."""
    if not REQUEST_ID.fullmatch(request_id):  # e.g. a NUL byte, which PostgreSQL refuses in any text
        raise Http404
    row = selectors.usage_record(account_id=request.portal.account.pk, request_id=request_id)
    if row is None:
        raise Http404
    return JsonResponse({
        "request_id": row["request_id"], "model": row["model_id"], "status": row["status"],
        "input_tokens": row["input_tokens"], "cached_input_tokens": row["cached_input_tokens"],
        "output_tokens": row["output_tokens"], "reasoning_tokens": row["reasoning_tokens"],
        "cost": decimal_string(row["cost_micros"]), "cost_display": format_exact(row["cost_micros"]),
        "latency_ms": row["latency_ms"], "usage_estimated": row["usage_estimated"],
    })  # fmt: skip
