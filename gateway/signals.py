"""Signals the gateway sends for the layers above it (which may listen; the gateway never imports them)."""

from django.dispatch import Signal

# An operator changed something from the console. kwargs: actor, action, obj, before, after, and
# optionally object_type/object_id/object_repr. accounts.audit records every one as an AuditEntry.
operator_action = Signal()
