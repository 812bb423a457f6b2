"""A dead credential is switched off alone, and operators hear of it: a mail and log line (billing.alerts.operator_alert)
and the `credential.disabled` operator webhook, like a channel health checks switch off. When the last enabled
credential of a channel goes, the channel goes too (`channel.disabled`): nothing could serve it any more.

Reasons say who decided: "relay: …" (a customer request was refused), "health: …" (a probe), "operator: …".
Only the first two are undone automatically, by a passing probe (gateway/observe/health.py)."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from billing.alerts import operator_alert
from billing.signals import platform_event
from gateway.models import Channel, ChannelCredential

log = logging.getLogger("harnmodel.pool")
AUTO_PREFIXES = ("relay:", "health:")


@dataclass(frozen=True, slots=True)
class Disabled:
    credential: bool = False  # this call switched the credential off (and alerted)
    channel: bool = False  # and with it the channel, its last enabled credential gone


@transaction.atomic
def disable_credential(credential_id: int, reason: str) -> Disabled:
    """Switch one credential off (if still on) and alert; says what this call switched off. An operator's
    concurrent change wins (conditional update), and only one worker alerts for one death."""
    now = timezone.now()
    if not ChannelCredential.objects.filter(pk=credential_id, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now, last_error=reason[:300], last_error_at=now
    ):
        return Disabled()
    cred = ChannelCredential.objects.select_related("channel").get(pk=credential_id)
    channel = cred.channel
    left = channel.credentials.filter(enabled=True).count()
    log.warning("credential %s of channel %s disabled: %s (%d left)", cred.public_id, channel.pk, reason, left)
    platform_event.send(sender=None, event_type="credential.disabled", data={
        "channel": channel.pk, "credential": cred.public_id, "reason": reason[:300], "enabled_left": left})
    operator_alert(
        subject=f"Channel {channel.name}: credential {cred.public_id} disabled",
        message=f"Credential {cred.public_id} ({cred.secret_hint}) of channel {channel.name} was switched off: "
        f"{reason}. Enabled credentials left in its pool: {left}."
        + (" The channel is switched off too." if not left else " The channel keeps serving with them."),
    )
    # "health:" so that a passing probe of a credential brings the channel back with it.
    channel_reason = "health: " + reason.split(":", 1)[-1].strip()
    if not left and Channel.objects.filter(pk=channel.pk, enabled=True).update(
        enabled=False, disabled_reason=channel_reason[:300]
    ):
        log.warning("channel %s disabled: its last enabled credential %s is dead", channel.pk, cred.public_id)
        platform_event.send(sender=None, event_type="channel.disabled",
                            data={"channel": channel.pk, "reason": channel_reason[:300]})  # fmt: skip
        return Disabled(True, True)
    return Disabled(True, False)


def note_error(credential_id: int, error: str) -> None:
    """The last error a credential saw (rate limits included), for the console's list."""
    ChannelCredential.objects.filter(pk=credential_id).update(last_error=error[:300], last_error_at=timezone.now())


def reenable_credential(credential_id: int) -> bool:
    """A probe passed with a credential the relay or a probe switched off: back on (never an operator's decision)."""
    done = ChannelCredential.objects.filter(pk=credential_id, enabled=False, disabled_reason__regex=r"^(relay|health):"
                                            ).update(enabled=True, disabled_reason="", disabled_at=None)
    if done:
        log.warning("credential %s re-enabled: a health probe passed", credential_id)
    return bool(done)
