"""Reading the operator audit trail from the lower layers, and turning before/after into a readable diff.

The trail itself (accounts.AuditEntry) lives in the top layer: billing and gateway ask for it through the
operator_history signal instead of importing accounts."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .signals import operator_history


@dataclass(frozen=True)
class Change:
    """One field that changed; a missing side is None (the field appeared or disappeared)."""

    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class AuditRow:
    created_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    @property
    def changes(self) -> list[Change]:
        return diff(self.before, self.after)


def audit_history(*, object_type: str, object_ids: list[str | int]) -> list[AuditRow]:
    """Every audit entry about these objects, newest first; empty when no layer above keeps a trail."""
    ids = [str(i) for i in object_ids]
    if not ids:
        return []
    rows: list[AuditRow] = []
    for _receiver, answer in operator_history.send(sender=None, object_type=object_type, object_ids=ids):
        rows.extend(answer or [])
    return sorted(rows, key=lambda row: row.created_at, reverse=True)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    # Nested dicts (a channel's model map) become dotted names, so one remapped model is one line;
    # an empty dict has no lines (its removed keys already say "(removed)").
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def diff(before: dict, after: dict) -> list[Change]:
    """The fields whose value differs, in a stable order, values rendered as short text."""
    old, new = _flatten(before or {}), _flatten(after or {})
    changes = []
    for name in sorted(set(old) | set(new)):
        if name in old and name in new and old[name] == new[name]:
            continue
        changes.append(
            Change(
                name=name,
                before=_shown(old[name]) if name in old else None,
                after=_shown(new[name]) if name in new else None,
            )
        )
    return changes


def changed_only(before: dict, after: dict) -> tuple[dict, dict]:
    """The top-level keys that differ, from each side: what an audit entry for an edit stores."""
    keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after}
