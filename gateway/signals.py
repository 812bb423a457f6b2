"""Signals the gateway sends for the layers above it (which may listen; the gateway never imports them).

operator_action is defined in billing, the lowest layer, so billing's console actions reach the same
audit trail; they are re-exported here for the gateway's senders."""

from billing.signals import operator_action, operator_history

__all__ = ["operator_action", "operator_history"]
