"""The truth score of a channel × model (0–100) from its evidence, and what follows from it.

Points lost:
* usage inflation: with at least HARNMODEL_TRUTH_MIN_SAMPLES exact samples whose median reported ÷
  counted ratio is past HARNMODEL_TRUTH_INFLATION_RATIO, 300 points per unit of excess ratio (capped at 60):
  5 % over the count costs 15, 20 % costs 60. A median under 0.9 costs 20 (another tokenizer answers: a
  hint of another model). Estimated ratios (no vocabulary) are shown, never scored.
* canaries: the latest run of each canary, 25 points for a drift, 10 for an error.

Below HARNMODEL_TRUTH_DEMOTE_BELOW the channel is demoted for this model: its routing weight is multiplied by
HARNMODEL_TRUTH_DEMOTE_FACTOR (read by gateway/relay/catalog.py) until HARNMODEL_TRUTH_DEMOTE_SECONDS pass
without a better score; the operator's weight is never edited, and a little traffic keeps measuring it.
Operators are alerted once per demotion: mail (billing.alerts.operator_alert) and the signed
`channel.demoted` platform webhook (billing.signals.platform_event, delivered by accounts).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.alerts import operator_alert
from billing.signals import platform_event
from gateway.models import ChannelModel
from gateway.relay.catalog import clear_caches
from gateway.upstream.truth import ratios
from gateway.upstream.truth.canary import CANARIES
from gateway.upstream.truth.models import CanaryRun, TokenRatio, TruthScore

log = logging.getLogger("harnmodel.truth")
DRIFT_POINTS = 25
ERROR_POINTS = 10
UNDERCOUNT_POINTS = 20
INFLATION_POINTS_PER_UNIT = 300
INFLATION_CAP = 60


@dataclass(slots=True)
class Assessment:
    score: int
    evidence: dict
    reasons: list[str] = field(default_factory=list)


def assess(channel_id: int, model_id: str) -> Assessment:
    score, reasons = 100, []
    evidence: dict = {"ratio": None, "canaries": {}}
    row = TokenRatio.objects.filter(channel_id=channel_id, model_id=model_id).first()
    found = ratios.stats(row) if row is not None else None
    if found is not None:
        evidence["ratio"] = found.as_dict()
        if found.inflated():
            lost = min(INFLATION_CAP, round((found.median - 1) * INFLATION_POINTS_PER_UNIT))
            score -= lost
            reasons.append(f"reported input tokens are {found.median:.2f}× our count (median of {found.n})")
        elif found.exact and found.n >= settings.HARNMODEL_TRUTH_MIN_SAMPLES and found.median < 0.9:
            score -= UNDERCOUNT_POINTS
            reasons.append(f"reported input tokens are {found.median:.2f}× our count: another tokenizer?")
    for name in CANARIES:
        run = (CanaryRun.objects.filter(channel_id=channel_id, model_id=model_id, canary=name)
               .order_by("-created_at", "-pk").first())  # fmt: skip
        if run is None:
            continue
        evidence["canaries"][name] = {"verdict": run.verdict, "detail": run.detail, "at": run.created_at.isoformat()}
        if run.verdict == CanaryRun.Verdict.DRIFT:
            score -= DRIFT_POINTS
            reasons.append(f"canary {name}: {run.detail}")
        elif run.verdict == CanaryRun.Verdict.ERROR:
            score -= ERROR_POINTS
            reasons.append(f"canary {name} failed: {run.detail}")
    evidence["reasons"] = reasons
    return Assessment(max(0, score), evidence, reasons)


@dataclass(slots=True)
class ScoreSummary:
    scored: int = 0
    demoted: list[tuple[int, str]] = field(default_factory=list)
    restored: list[tuple[int, str]] = field(default_factory=list)


def score_all() -> ScoreSummary:
    """The scheduled job: every mapped channel × model of an enabled channel."""
    summary = ScoreSummary()
    pairs = ChannelModel.objects.filter(channel__enabled=True).select_related("channel", "model").order_by("pk")
    for m in pairs:
        score_one(m.channel_id, m.channel.name, m.model.public_id, summary)
    if summary.demoted or summary.restored:
        clear_caches()  # this process now; other workers within HARNMODEL_CATALOG_CACHE_SECONDS
    return summary


@transaction.atomic
def score_one(channel_id: int, channel_name: str, model_id: str, summary: ScoreSummary) -> TruthScore:
    found = assess(channel_id, model_id)
    now = timezone.now()
    row, _ = TruthScore.objects.select_for_update().get_or_create(channel_id=channel_id, model_id=model_id)
    was_demoted = row.demoted_until is not None and row.demoted_until > now
    row.score, row.evidence, row.computed_at = found.score, found.evidence, now
    summary.scored += 1
    if found.score < settings.HARNMODEL_TRUTH_DEMOTE_BELOW:
        row.demoted_until = now + timedelta(seconds=settings.HARNMODEL_TRUTH_DEMOTE_SECONDS)
        row.demote_factor = settings.HARNMODEL_TRUTH_DEMOTE_FACTOR
        if not was_demoted:
            summary.demoted.append((channel_id, model_id))
            _alert(channel_id, channel_name, model_id, found)
    elif was_demoted and row.demoted_until is not None:
        row.demoted_until, row.demote_factor = None, 1.0  # honest again: back to the operator's weight
        summary.restored.append((channel_id, model_id))
        log.warning("channel %s restored for %s: truth score %s", channel_id, model_id, found.score)
    row.save()
    return row


def _alert(channel_id: int, channel_name: str, model_id: str, found: Assessment) -> None:
    why = "; ".join(found.reasons) or "low score"
    log.warning("channel %s demoted for %s: truth score %s (%s)", channel_id, model_id, found.score, why)
    factor = settings.HARNMODEL_TRUTH_DEMOTE_FACTOR
    operator_alert(subject=f"Channel {channel_name} demoted for {model_id}: truth score {found.score}",
                   message=f"The truth score of channel {channel_name} for {model_id} fell to {found.score} "
                           f"(below {settings.HARNMODEL_TRUTH_DEMOTE_BELOW}): {why}. Its routing weight is "
                           f"multiplied by {factor:g} until the score recovers. The evidence is on the console's "
                           "Channel truth page.")  # fmt: skip
    platform_event.send(sender=None, event_type="channel.demoted",
                        data={"channel": channel_id, "model": model_id, "score": found.score,
                              "factor": factor, "reasons": [r[:300] for r in found.reasons]})  # fmt: skip


def lift(row: TruthScore) -> None:
    """The operator's override: back to full weight now (the next scoring may demote it again)."""
    TruthScore.objects.filter(pk=row.pk).update(demoted_until=None, demote_factor=1.0)
    clear_caches()
