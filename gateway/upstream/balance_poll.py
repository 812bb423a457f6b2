"""Poll the upstream balance of every channel that names a balance kind, keep a short history
(BalanceSample), alert operators once each time a balance falls below the channel's threshold, and drain
the channel (weight 0, the console's drain) when it reaches zero. Restoring the weight after a top-up is
the operator's decision, as with every drain."""

import logging
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.db import transaction

from billing.alerts import operator_alert
from billing.money import AmountError, decimal_string, parse_amount
from gateway import signals
from gateway.models import BalanceSample, Channel
from gateway.pool.store import first_secret
from gateway.relay.catalog import clear_caches
from gateway.upstream import http as upstream_http
from gateway.upstream.balances import BalanceError, Reading, reader

log = logging.getLogger("harnmodel.upstream_balance")


def samples_kept() -> int:
    # Bounded history per channel: the trend on the channel list reads the newest of these.
    return max(1, settings.HARNMODEL_BALANCE_SAMPLES_KEPT)


def alert_threshold(options: dict) -> int | None:
    """options["balance_alert_below"] as micros; None when unset or unusable (the form validates it)."""
    text = options.get("balance_alert_below")
    if text in (None, ""):
        return None
    try:
        return parse_amount(str(text))
    except AmountError:
        return None


@dataclass(slots=True)
class PollSummary:
    polled: int = 0
    failed: int = 0
    alerted: list[int] = field(default_factory=list)
    drained: list[int] = field(default_factory=list)


@transaction.atomic
def record(channel: Channel, reading: Reading, summary: PollSummary) -> None:
    """Store the sample, trim the history, alert on a downward threshold crossing, drain at zero."""
    previous = BalanceSample.objects.filter(channel=channel).order_by("-created_at", "-pk").first()
    BalanceSample.objects.create(channel=channel, balance_micros=reading.balance_micros, currency=reading.currency)
    stale = BalanceSample.objects.filter(channel=channel).order_by("-created_at", "-pk")[samples_kept():]
    BalanceSample.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    amount = f"{decimal_string(reading.balance_micros)} {reading.currency}".strip()
    threshold = alert_threshold(channel.options or {})
    # Once per crossing: only when the previous sample was at or above the threshold (or there was none).
    if threshold is not None and reading.balance_micros < threshold and (
        previous is None or previous.balance_micros >= threshold
    ):
        summary.alerted.append(channel.pk)
        operator_alert(subject=f"Upstream balance low on channel {channel.name}",
                       message=f"The upstream balance of {channel.name} is {amount}, below its alert threshold "
                               f"of {decimal_string(threshold)}. Top it up before it runs out.")  # fmt: skip
        signals.upstream_balance_low(channel_id=channel.pk, name=channel.name, currency=reading.currency,
                                             balance_micros=reading.balance_micros, threshold_micros=threshold)  # fmt: skip
    if reading.balance_micros <= 0 and Channel.objects.filter(pk=channel.pk, weight__gt=0).update(weight=0):
        summary.drained.append(channel.pk)
        clear_caches()
        log.warning("channel %s drained: upstream balance %s", channel.pk, amount)
        operator_alert(subject=f"Channel {channel.name} drained: upstream balance exhausted",
                       message=f"The upstream balance of {channel.name} is {amount}. Its weight is now 0 "
                               "(no new traffic). Top it up, then restore its weight in the console.")  # fmt: skip


def poll_all() -> PollSummary:
    """The scheduled job: every enabled channel whose options name a balance_kind."""
    summary = PollSummary()
    channels = [c for c in Channel.objects.filter(enabled=True).exclude(base_url="").order_by("pk")
                if (c.options or {}).get("balance_kind")]  # fmt: skip
    with upstream_http.client() as client:
        for channel in channels:
            summary.polled += 1
            try:
                fetch = reader(str(channel.options["balance_kind"]))
                reading = fetch(client, channel.base_url, first_secret(channel)[1])
            except (BalanceError, httpx.HTTPError) as exc:
                summary.failed += 1
                log.warning("balance poll of channel %s failed: %s", channel.pk, exc)
                continue
            record(channel, reading, summary)
    return summary
