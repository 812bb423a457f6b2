"""The evidence of a channel's honesty, and its verdict. Written only by this package's services."""

from django.db import models


class TokenRatio(models.Model):
    """Reported ÷ locally counted input tokens of one channel × model: a bounded window of recent ratios
    (the newest last) and running sums since the row was created."""

    channel = models.ForeignKey("gateway.Channel", on_delete=models.CASCADE, related_name="token_ratios")
    model_id = models.CharField(max_length=128)
    vocabulary = models.CharField(max_length=16, help_text="o200k, cl100k or estimate.")
    window = models.JSONField(default=list, blank=True)
    samples = models.PositiveBigIntegerField(default=0)
    counted_tokens = models.PositiveBigIntegerField(default=0)
    reported_tokens = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "model_id"], name="truth_ratio_unique")]

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.model_id}"


class CanaryReference(models.Model):
    """The answer a trusted channel gave to one canary for one public model."""

    model_id = models.CharField(max_length=128)
    canary = models.CharField(max_length=32)
    answer = models.JSONField()
    source_channel = models.ForeignKey("gateway.Channel", on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")  # fmt: skip
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_id", "canary"], name="truth_reference_unique")]

    def __str__(self) -> str:
        return f"{self.model_id}/{self.canary}"


class CanaryRun(models.Model):
    class Verdict(models.TextChoices):
        MATCH = "match", "match"
        DRIFT = "drift", "drift"
        ERROR = "error", "error"
        UNREFERENCED = "unreferenced", "no reference yet"

    channel = models.ForeignKey("gateway.Channel", on_delete=models.CASCADE, related_name="canary_runs")
    model_id = models.CharField(max_length=128)
    canary = models.CharField(max_length=32)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    answer = models.JSONField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "model_id", "canary", "-created_at"], name="truth_run_latest")]


class TruthScore(models.Model):
    """The verdict on one channel × model, with the evidence it was computed from, and its demotion."""

    channel = models.ForeignKey("gateway.Channel", on_delete=models.CASCADE, related_name="truth_scores")
    model_id = models.CharField(max_length=128)
    score = models.PositiveSmallIntegerField(default=100)
    evidence = models.JSONField(default=dict, blank=True)
    demoted_until = models.DateTimeField(null=True, blank=True)
    demote_factor = models.FloatField(default=1.0, help_text="Routing weight multiplier while demoted.")
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "model_id"], name="truth_score_unique")]
        verbose_name = "channel truth score"

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.model_id}: {self.score}"
