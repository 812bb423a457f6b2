"""Operator webhook events the gateway raises, as one-line calls for its modules (the gateway never imports
accounts: billing.signals.platform_event carries them up, accounts.api.webhooks delivers them).

Payloads (the `data` of the event; README "Webhooks"):
- credential.disabled: {"channel": id, "credential": id or label, "reason": str}
- upstream.balance_low: {"channel": id, "name": str, "balance_micros": int, "threshold_micros": int,
  "currency": str}
"""

from billing.signals import platform_event


def credential_disabled(*, channel_id: int, credential: int | str, reason: str) -> None:
    """One upstream credential of a channel's key pool was taken out of rotation (for the pool to call)."""
    platform_event.send(sender=None, event_type="credential.disabled",
                        data={"channel": channel_id, "credential": credential, "reason": reason[:300]})  # fmt: skip


def upstream_balance_low(*, channel_id: int, name: str, balance_micros: int, threshold_micros: int,
                         currency: str) -> None:  # fmt: skip
    platform_event.send(sender=None, event_type="upstream.balance_low",
                        data={"channel": channel_id, "name": name, "balance_micros": balance_micros,
                              "threshold_micros": threshold_micros, "currency": currency})  # fmt: skip
