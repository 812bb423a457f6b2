"""What routing reads of the truth score: the weight multipliers of demoted channels (score.py sets them)."""

from django.utils import timezone

from gateway.upstream.truth.models import TruthScore


def factors(public_id: str) -> dict[int, float]:
    """{channel id: weight multiplier} of the channels demoted for this model now."""
    rows = TruthScore.objects.filter(model_id=public_id, demoted_until__gt=timezone.now())
    # Never 0: a demoted channel keeps a trickle of traffic, which keeps measuring it.
    return {channel_id: max(factor, 0.001) for channel_id, factor in rows.values_list("channel_id", "demote_factor")}
