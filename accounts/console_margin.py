"""The console's margin report page: revenue − upstream cost by customer group, channel and model."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from billing.group_pricing import millionths_text
from billing.margin import DIMENSIONS, MAX_DAYS, margin_report
from billing.money import format_exact


class MarginForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (included)", widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.MultipleChoiceField(
        label="By", choices=[(d, d) for d in DIMENSIONS], widget=forms.CheckboxSelectMultiple, required=False
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and (end < start or (end - start).days >= MAX_DAYS):
            raise forms.ValidationError(f"Choose 1 to {MAX_DAYS} days, the start first.")
        return cleaned


def _shown(row) -> dict:
    return {
        "row": row,
        "revenue": format_exact(row.revenue_micros),
        "upstream_cost": format_exact(row.upstream_cost_micros),
        "uncosted": format_exact(row.uncosted_revenue_micros) if row.uncosted_revenue_micros else "",
        "margin": format_exact(row.margin_micros),
        "margin_pct": "–" if row.margin_ppm is None else millionths_text(row.margin_ppm * 100) + " %",
    }


def margin_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("billing.view_usagerecord"):
        raise PermissionDenied
    today = timezone.localdate()
    initial = {"start": today - timedelta(days=29), "end": today, "by": list(DIMENSIONS)}
    form = MarginForm(request.GET if "start" in request.GET else None, initial=initial)
    # Unbound: the last 30 days; bound and invalid: the form's errors and no report.
    params = (form.cleaned_data if form.is_valid() else None) if form.is_bound else initial
    by = [d for d in DIMENSIONS if d in ((params or initial)["by"] or DIMENSIONS)]
    rows, total = [], None
    if params is not None:
        found, sums = margin_report(start=params["start"], end=params["end"], by=tuple(by))
        rows, total = [_shown(r) for r in found], _shown(sums)
    context = {
        **admin.site.each_context(request),
        "title": "Margin report",
        "form": form,
        "rows": rows,
        "total": total,
        "by": by,
    }
    return TemplateResponse(request, "admin/margin.html", context)
