"""Signals of the lowest layer, so billing, gateway and accounts all send and answer the same ones.

billing imports neither gateway nor accounts; accounts (the top layer) connects the receivers."""

from django.dispatch import Signal

# An operator changed or exported something from the console. kwargs: actor, action, and obj or
# object_type/object_id/object_repr, before, after. accounts.audit records every one as an AuditEntry.
operator_action = Signal()

# Asked for the audit trail of some objects: kwargs object_type and object_ids (strings). Each receiver
# returns a list of billing.history.AuditRow, newest first (accounts.audit answers from AuditEntry).
operator_history = Signal()

# Something a customer may want to hear about (accounts.api.webhooks sends it to their webhooks).
# kwargs: account_id, event_type ("topup.credited", "balance.low"), data (a JSON-able dict).
customer_event = Signal()

# A single-statement hold or settle raised (billing/holds/errors.py). kwargs: op, error, then. The gateway's
# metrics count it (harnmodel_billing_statement_errors_total), so billing never imports them.
statement_error = Signal()

# The same for operators (event_type "channel.disabled", "channel.demoted", …; kwargs event_type, data).
platform_event = Signal()
