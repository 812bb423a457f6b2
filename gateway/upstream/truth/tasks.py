"""Thin Celery tasks of the truth score; the logic is in canary_run.py and score.py."""

from celery import shared_task

from gateway.upstream.truth import canary_run, score


@shared_task(ignore_result=True)
def run_canaries() -> dict:
    """Hourly (CELERY_BEAT_SCHEDULE): every channel × model answers the canaries; then re-score."""
    runs = canary_run.run_all()
    summary = score.score_all()
    return {"runs": len(runs), "drift": sum(r.verdict == "drift" for r in runs), "demoted": len(summary.demoted)}


@shared_task(ignore_result=True)
def score_channels() -> dict:
    """Every 5 min: re-score from the latest token ratios and canary runs; demote and restore."""
    summary = score.score_all()
    return {"scored": summary.scored, "demoted": len(summary.demoted), "restored": len(summary.restored)}
