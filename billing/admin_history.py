"""History pages that show the operator audit trail: who changed what, when, before → after.

Django's own history page lists LogEntry rows ("Changed name."), which say neither the old nor the new
value. These admins add the audit entries (asked for through billing.history, since the trail lives in
accounts) and, for prices, every published version."""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

from .history import AuditRow, audit_history
from .models import Price
from .money import format_exact
from .selectors import price_current
from .signals import operator_action

if TYPE_CHECKING:  # the mixin is only ever mixed into a ModelAdmin; say so to the type checker
    from django.contrib.admin import ModelAdmin as _AdminBase
else:
    _AdminBase = object


class AuditHistoryMixin(_AdminBase):
    """For a ModelAdmin: its History page shows the object's audit entries above Django's log."""

    object_history_template = "admin/audit_history.html"

    def history_context(self, obj: Any) -> dict[str, Any]:
        return {"audit_rows": audit_history(object_type=obj._meta.label_lower, object_ids=[obj.pk])}

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra_context = {**(extra_context or {}), **self.history_context(obj)}
        return super().history_view(request, object_id, extra_context)


# -- prices -------------------------------------------------------------------------------------------------


def price_state(price: Price | None) -> dict[str, Any]:
    """What an audit entry stores about a price version (empty: the model had no price)."""
    if price is None:
        return {}
    return {
        "price_id": price.pk,
        "input_micros": price.input_micros,
        "cached_input_micros": price.cached_input_micros,
        "output_micros": price.output_micros,
        "effective_from": price.effective_from.isoformat(),
    }


def price_publish_audit(*, actor: Any, before: Price | None, price: Price) -> None:
    """A new version was published from the console: the price in force before it, and the new one."""
    operator_action.send(
        sender=Price,
        actor=actor,
        action="price_publish",
        obj=price,
        before=price_state(before),
        after=price_state(price),
    )


@dataclass(frozen=True)
class PriceVersion:
    price: Price
    input: str
    cached_input: str
    output: str
    published_by: str
    published_at: datetime
    current: bool


def price_history(*, model_id: str) -> tuple[list[AuditRow], list[PriceVersion]]:
    """Every audit entry about this model's prices and every version, newest first."""
    versions = list(Price.objects.filter(model_id=model_id).order_by("-effective_from"))
    rows = audit_history(object_type=Price._meta.label_lower, object_ids=[p.pk for p in versions])
    publisher = {row.object_id: row.actor for row in rows if row.action == "price_publish"}
    current = price_current(model_id=model_id)
    return rows, [
        PriceVersion(
            price=p,
            input=format_exact(p.input_micros),
            cached_input=format_exact(p.cached_input_micros),
            output=format_exact(p.output_micros),
            # Versions from the demo seed or `catalog apply` were not published by an operator.
            published_by=publisher.get(str(p.pk), "(not from the console)"),
            published_at=p.created_at,
            current=current is not None and p.pk == current.pk,
        )
        for p in versions
    ]


class PriceHistoryMixin(AuditHistoryMixin):
    """A price version's History page shows the whole history of its model's price."""

    def history_context(self, obj: Price) -> dict[str, Any]:
        audit, versions = price_history(model_id=obj.model_id)
        return {"audit_rows": audit, "price_versions": versions, "price_model_id": obj.model_id}
