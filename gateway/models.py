"""The gateway's catalog: public models, upstream channels and the API keys that call us."""

from django.conf import settings
from django.db import models


class CatalogModel(models.Model):
    """A public model ID customers call (`gpt-4o`); prices live in billing.Price by this ID."""

    public_id = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    # Caps output when the request names no max_output_tokens: the hold must cover the worst case.
    default_max_output_tokens = models.PositiveIntegerField(default=4096)
    context_window = models.PositiveIntegerField(default=128_000)
    enabled = models.BooleanField(default=True)
    # How a priority tier's weighted pick is made (gateway/relay/adaptive.py): as configured, or biased by each
    # channel's recent first-byte time and error rate.
    routing = models.CharField(
        max_length=16, choices=[("weighted", "weighted"), ("adaptive", "adaptive")], default="weighted",
        help_text="adaptive: inside a priority tier, favour channels with a faster first byte and fewer errors.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_id"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.public_id


class Channel(models.Model):
    """An upstream account: one provider protocol, one base URL, a pool of (encrypted) credentials."""

    name = models.CharField(max_length=128, unique=True)
    provider = models.CharField(max_length=32, help_text="Protocol adapter, see gateway/providers.")
    base_url = models.CharField(max_length=500, blank=True, help_text="Including /v1 where the API has it.")
    priority = models.IntegerField(default=0, help_text="Higher is tried first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share inside a priority tier.")
    enabled = models.BooleanField(default=True)
    options = models.JSONField(default=dict, blank=True, help_text="Adapter options (e.g. simulator latency).")
    disabled_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the channel is off (set by health checks or an operator)."
    )
    connect_timeout = models.FloatField(null=True, blank=True, help_text="Seconds; empty = platform default.")
    first_byte_timeout = models.FloatField(null=True, blank=True, help_text="Seconds until the first byte.")
    idle_timeout = models.FloatField(null=True, blank=True, help_text="Longest silence between chunks, seconds.")
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_probe_ok = models.BooleanField(null=True, blank=True)
    last_probe_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_probe_error = models.CharField(max_length=300, blank=True)
    catalog_models = models.ManyToManyField(CatalogModel, through="ChannelModel", related_name="channels")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    @property
    def secret_hint(self) -> str:
        """What an operator sees of the pool: never a secret (gateway/pool/store.py)."""
        from gateway.pool.store import pool_hint

        return pool_hint(self)


class ChannelModel(models.Model):
    """Which public models a channel serves, and under which name upstream."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="model_maps")
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="channel_maps")
    upstream_name = models.CharField(max_length=200, blank=True, help_text="Empty: same as the public ID.")
    # What this channel charges us for the model, per 1M tokens like a Price; empty = unknown (no margin shown).
    cost_input_micros = models.BigIntegerField(null=True, blank=True, help_text="Upstream cost per 1M input tokens.")
    cost_cached_input_micros = models.BigIntegerField(
        null=True, blank=True, help_text="Upstream cost per 1M cached input tokens."
    )
    cost_output_micros = models.BigIntegerField(null=True, blank=True, help_text="Upstream cost per 1M output tokens.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "model"], name="uniq_channel_model"),
            models.CheckConstraint(
                condition=(
                    models.Q(cost_input_micros__isnull=True, cost_cached_input_micros__isnull=True,
                             cost_output_micros__isnull=True)
                    | models.Q(cost_input_micros__gte=0, cost_cached_input_micros__gte=0, cost_output_micros__gte=0,
                               cost_input_micros__isnull=False, cost_cached_input_micros__isnull=False,
                               cost_output_micros__isnull=False)
                ),
                name="channel_model_cost_all_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel.name}: {self.model.public_id} → {self.upstream_name or self.model.public_id}"


class ApiKey(models.Model):
    """A credential that calls the gateway. Only an HMAC of the secret is stored."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="Shown to humans to tell keys apart.")
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    allowed_models = models.JSONField(default=list, blank=True, help_text="Public model IDs; empty = all.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Limits: empty = none. Rate limits are per minute; spend caps in micros of the platform currency.
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute.")
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests in flight.")
    spend_limit_total_micros = models.BigIntegerField(null=True, blank=True)
    spend_limit_daily_micros = models.BigIntegerField(null=True, blank=True)
    spend_limit_monthly_micros = models.BigIntegerField(null=True, blank=True)
    # Spend per agent session (X-Session-Id or prompt_cache_key), in micros; empty = none (gateway/relay/sessions.py).
    session_budget_micros = models.BigIntegerField(null=True, blank=True)

    # Teams: the project whose budgets this key spends from, and the member whose budget it counts
    # against (whoever created it; empty for keys made by a management key). accounts fills the project.
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="api_keys")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"


class SessionSpend(models.Model):
    """What one session of a key has spent and holds, when no Redis keeps the count (gateway/relay/sessions.py).
    A row idle for HARNMODEL_SESSION_IDLE_SECONDS counts as a new session and is purged."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="session_spends")
    session = models.CharField(max_length=64, help_text="SHA-256 of the session id: bounded, never the id itself.")
    used_micros = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "session"], name="session_spend_unique")]


class ChannelProbe(models.Model):
    """One health probe of a channel for one model: the history operators read."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="probes")
    model_id = models.CharField(max_length=128)
    ok = models.BooleanField()
    credential = models.CharField(max_length=16, blank=True, help_text="The credential's short id (never the secret).")
    status = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["channel", "-created_at"], name="probe_channel_time")]

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.model_id} {'ok' if self.ok else 'fail'}"


class IdempotencyRecord(models.Model):
    """A client's `Idempotency-Key`: the first outcome is stored and replayed for 24 h."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        DONE = "done"

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="uniq_idempotency_key")]


class TaskRun(models.Model):
    """The latest run of one scheduled Celery task, written by gateway.observe.taskruns from Celery's signals.

    One row per task name, not a history: the console asks "when did it last run and did it work", the table stays
    as small as the beat schedule with no trimming job, and each run is one upsert. The counters and the last
    failure's summary keep the longer view."""

    class State(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        RETRY = "retry"

    task = models.CharField(max_length=200, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_state = models.CharField(max_length=16, choices=State.choices, blank=True)
    last_runtime_ms = models.PositiveIntegerField(null=True, blank=True)
    last_summary = models.CharField(max_length=300, blank=True, help_text="Result or exception, one line, redacted.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, help_text="The last failure's exception, kept after.")
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["task"]
        verbose_name = "scheduled job run"

    def __str__(self) -> str:
        return self.task

    @property
    def running(self) -> bool:
        """Started after its last finish: running now, or its worker died mid-run."""
        started, finished = self.last_started_at, self.last_finished_at
        return started is not None and (finished is None or started > finished)


class UpstreamModelFinding(models.Model):
    """A difference between a channel's upstream model list and its model map, for an operator to review
    (gateway.upstream.model_sync). One row per channel × upstream name; a resolved row reopens if it changes again."""

    class Kind(models.TextChoices):
        NEW = "new"  # listed upstream, not in the model map
        VANISHED = "vanished"  # in the model map, no longer listed upstream

    class State(models.TextChoices):
        OPEN = "open"
        APPLIED = "applied"
        IGNORED = "ignored"
        UNMAPPED = "unmapped"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="model_findings")
    upstream_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # Apply maps to this public model; empty = create a draft public model named like the upstream one.
    target = models.ForeignKey(
        CatalogModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="Map to this public model on apply; empty creates a draft (disabled, unpriced) public model.",
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["state", "channel_id", "upstream_name"]
        constraints = [models.UniqueConstraint(fields=["channel", "upstream_name"], name="uniq_finding_channel_name")]
        verbose_name = "upstream model change"

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.kind} {self.upstream_name}"


class BalanceSample(models.Model):
    """One poll of a channel's upstream balance (gateway.upstream.balances), in micros of `currency`.
    The newest HARNMODEL_BALANCE_SAMPLES_KEPT per channel are kept; older ones are trimmed on each poll."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="balance_samples")
    balance_micros = models.BigIntegerField()
    currency = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["channel", "-created_at"], name="balance_channel_time")]

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.balance_micros} {self.currency}"


class ChannelCredential(models.Model):
    """One upstream API key in a channel's pool: stored encrypted, known to humans by `public_id` (cred_ab12)
    and its last four characters. Requests pick among the enabled ones (gateway/pool/pick.py)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="credentials")
    public_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_encrypted = models.TextField(editable=False)
    secret_hint = models.CharField(max_length=16, blank=True, editable=False)
    weight = models.PositiveIntegerField(default=1, help_text="Share of the channel's requests; 0 = none.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="The upstream's requests per minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="The upstream's tokens per minute.")
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel_id", "pk"]
        verbose_name = "channel credential"

    def __str__(self) -> str:
        return f"{self.public_id} {self.secret_hint}"
