"""Signals the gateway sends for the layers above it (which may listen; the gateway never imports them).

operator_action is defined in billing, the lowest layer, so billing's console actions reach the same
audit trail; they are re-exported here for the gateway's senders."""

from billing.signals import operator_action, operator_history, platform_event

__all__ = ["credential_disabled", "operator_action", "operator_history", "upstream_balance_low"]


# Operator webhook events (billing.signals.platform_event carries them to accounts.api.webhooks), as one-line
# calls for the gateway's modules. Their `data` is the contract (README "Webhooks"); never rename a key.


def credential_disabled(*, channel_id: int, credential: int | str, reason: str) -> None:
    """An upstream credential of a channel's key pool was taken out of rotation: for the pool to call.
    data: {"channel": id, "credential": id or label (never the secret), "reason": str}"""
    platform_event.send(sender=None, event_type="credential.disabled",
                        data={"channel": channel_id, "credential": credential, "reason": reason[:300]})  # fmt: skip


def upstream_balance_low(*, channel_id: int, name: str, balance_micros: int, threshold_micros: int,
                         currency: str) -> None:  # fmt: skip
    """data: {"channel": id, "name": str, "balance_micros": int, "threshold_micros": int, "currency": str}"""
    platform_event.send(sender=None, event_type="upstream.balance_low",
                        data={"channel": channel_id, "name": name, "balance_micros": balance_micros,
                              "threshold_micros": threshold_micros, "currency": currency})  # fmt: skip
