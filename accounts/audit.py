"""The operator audit trail: one AuditEntry per console action, with the object before and after."""

from typing import Any

from django.db import models

from billing.history import AuditRow

from .models import AuditEntry


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Write one entry. `obj` fills type/id/repr; pass them explicitly for things that are not rows.

    before/after must be JSON-serialisable: callers pass the few fields the action touched, not the row."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr[:300],
        before=before or {},
        after=after or {},
    )


def _on_operator_action(sender: Any, **kwargs: Any) -> None:
    audit_record(**{name: value for name, value in kwargs.items() if name != "signal"})


def _on_operator_history(sender: Any, *, object_type: str, object_ids: list[str], **kwargs: Any) -> list[AuditRow]:
    entries = AuditEntry.objects.filter(object_type=object_type, object_id__in=object_ids).select_related("actor")
    return [
        AuditRow(
            created_at=e.created_at,
            actor=e.actor.get_username() if e.actor else "(no user)",
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            object_repr=e.object_repr,
            before=e.before,
            after=e.after,
        )
        for e in entries
    ]


def connect() -> None:
    # Defined in billing (the lowest layer) so billing, gateway and this app all share them.
    from billing.signals import operator_action, operator_history

    operator_action.connect(_on_operator_action, dispatch_uid="accounts.audit")
    operator_history.connect(_on_operator_history, dispatch_uid="accounts.audit.history")
