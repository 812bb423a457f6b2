"""Prometheus metrics for operators: what the gateway did, per model and channel, and what it holds now.

Multi-worker safe. With PROMETHEUS_MULTIPROC_DIR set (uvicorn --workers N, Celery's prefork pool) every
process writes its samples to mmap files in that directory and a scrape of any worker merges them all; the
directory must be empty when the server starts (wipe it in the start script) and shared only by processes
of one host. Without it, the samples live in this process's registry, plus process/GC metrics.

Recording never raises: a metrics bug must not fail a request that was already settled.
"""

import glob
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from billing.signals import statement_error

log = logging.getLogger("harnmodel.metrics")

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
disable_created_metrics()  # `*_created` series double every counter for nothing Prometheus needs
REGISTRY = CollectorRegistry(auto_describe=True)
# LLM calls take from ~100 ms to minutes; the buckets follow that, not the HTTP defaults.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
NO_CHANNEL = "none"

REQUESTS = Counter(
    "harnmodel_requests",
    "Admitted /v1/responses requests by public model, HTTP status the client got and channel that answered.",
    ["model", "status", "channel"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "harnmodel_request_duration_seconds",
    "Admitted request latency, admission to settlement (streams: to their last event).",
    ["model", "status", "channel"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
FIRST_BYTE_SECONDS = Histogram(
    "harnmodel_first_byte_seconds",
    "Admission to the upstream's first byte, for requests an upstream answered.",
    ["model", "channel"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DOOR_REQUESTS = Counter(
    "harnmodel_door_requests",
    "Every request, admitted or refused, by the client protocol it came in by (responses, chat, messages, gemini) "
    "and the HTTP status it got.",
    ["door", "status"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "harnmodel_rejected_requests",
    "Requests refused before admission (auth, validation, funds, unknown model) by status and code.",
    ["status", "code"],
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "harnmodel_upstream_errors",
    "Failed upstream attempts by channel and error code (timeout, connect_error, upstream_*).",
    ["channel", "code"],
    registry=REGISTRY,
)
FAILOVERS = Counter(
    "harnmodel_failovers",
    "Attempts on a channel that failed and were retried on another channel.",
    ["channel"],
    registry=REGISTRY,
)
CREDENTIAL_ATTEMPTS = Counter(
    "harnmodel_credential_attempts",
    "Upstream attempts by channel and pool credential (its short id) and outcome (ok, or the error code).",
    ["channel", "credential", "outcome"],
    registry=REGISTRY,
)
# livemax: with breakers kept per worker, the worst state any live worker sees; dead workers drop out.
BREAKER_STATE = Gauge(
    "harnmodel_breaker_state",
    "Circuit breaker state per channel (and model, for per-model breakers): 0 closed, 1 half-open, 2 open.",
    ["channel", "model"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
TOKENS = Counter(
    "harnmodel_tokens",
    "Tokens billed by public model; direction is input (cached included) or output (reasoning included).",
    ["model", "direction"],
    registry=REGISTRY,
)
SPEND = Counter(
    "harnmodel_spend_micros",
    "Charged amount in micros of the platform currency, by public model.",
    ["model"],
    registry=REGISTRY,
)
BILLING_STATEMENT_ERRORS = Counter(  # billing/holds/errors.py: never a silent fallback
    "harnmodel_billing_statement_errors",
    "Single-statement holds and settlements that raised, by operation, error class and what followed.",
    ["op", "error", "then"],
    registry=REGISTRY,
)


def _count_statement_error(sender, *, op: str, error: str, then: str, **kwargs) -> None:
    BILLING_STATEMENT_ERRORS.labels(op=op, error=error, then=then).inc()


statement_error.connect(_count_statement_error, dispatch_uid="harnmodel-billing-statement-errors")
INFLIGHT = Gauge(
    "harnmodel_relay_inflight",
    "Relay jobs running now (upstream call through settlement).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
WEBSOCKETS_OPEN = Gauge(
    "harnmodel_websockets_open",
    "Responses WebSockets open now (each turn on one is also counted as a request).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CELERY_TASKS = Counter(
    "harnmodel_celery_tasks",
    "Celery task outcomes by task name: success, failure or retry.",
    ["task", "outcome"],
    registry=REGISTRY,
)


def _channel(value: Any) -> str:
    """A channel label: its id (from an int, a ChannelRoute or a Channel); NO_CHANNEL when none answered."""
    if value is None:
        return NO_CHANNEL
    return str(getattr(value, "id", value))


def _seconds(ms: int | float | None) -> float:
    return max(0.0, float(ms or 0) / 1000)


# -- what the relay and pipeline call ------------------------------------------------------------------------------
def observe_request(facts: Any, *, usage: Any, cost_micros: int, attempts: list[Mapping] | None = None) -> None:
    """One admitted request, at its settlement. `facts` is billing.RequestFacts, `usage` a billing Usage or
    None, `attempts` the relay's list of {channel, status, ms[, error]} (default: facts.attempts). Pass
    cost_micros=0 for a replayed settlement: it was counted the first time."""
    try:
        model, status, channel = facts.model_id, str(facts.status), _channel(facts.channel_id)
        REQUESTS.labels(model, status, channel).inc()
        DOOR_REQUESTS.labels(getattr(facts, "door", "responses"), status).inc()
        REQUEST_SECONDS.labels(model, status, channel).observe(_seconds(facts.latency_ms))
        if facts.first_byte_ms is not None:
            FIRST_BYTE_SECONDS.labels(model, channel).observe(_seconds(facts.first_byte_ms))
        tried = list(attempts if attempts is not None else facts.attempts or ())
        for index, attempt in enumerate(tried):
            if attempt.get("error"):
                UPSTREAM_ERRORS.labels(_channel(attempt.get("channel")), str(attempt["error"])).inc()
            if index < len(tried) - 1:  # only the last attempt may have succeeded: every earlier one failed over
                FAILOVERS.labels(_channel(attempt.get("channel"))).inc()
            if attempt.get("credential"):
                outcome = str(attempt.get("error") or ("ok" if attempt.get("status", 0) < 400 else attempt["status"]))
                CREDENTIAL_ATTEMPTS.labels(_channel(attempt.get("channel")), attempt["credential"], outcome).inc()
        if usage is not None:
            TOKENS.labels(model, "input").inc(max(0, usage.input_tokens))
            TOKENS.labels(model, "output").inc(max(0, usage.output_tokens))
        if cost_micros > 0:
            SPEND.labels(model).inc(cost_micros)
    except Exception:
        log.exception("metrics: observe_request failed")


def observe_rejection(*, status: int, code: str | None, door: str = "responses") -> None:
    """A request refused before admission (no hold, no settlement): 401, 400, 402, 403, 404, 413, 429."""
    try:
        REJECTED.labels(str(status), code or "").inc()
        DOOR_REQUESTS.labels(door, str(status)).inc()
    except Exception:
        log.exception("metrics: observe_rejection failed")


def set_breaker_state(channel: Any, state: str | int, *, model: str = "") -> None:
    """The routing code's hook: `state` is closed/half_open/open (or 0/1/2); `channel` an id or a channel;
    `model` the public model when breakers are kept per (channel, model)."""
    try:
        value = BREAKER_STATES[state] if isinstance(state, str) else int(state)
        BREAKER_STATE.labels(_channel(channel), model).set(value)
    except Exception:
        log.exception("metrics: set_breaker_state failed")


@contextmanager
def inflight() -> Iterator[None]:
    """`with metrics.inflight():` around a relay job (works in async code: nothing here awaits)."""
    INFLIGHT.inc()
    try:
        yield
    finally:
        INFLIGHT.dec()


# -- Celery ---------------------------------------------------------------------------------------------------------
def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or sender or "unknown")


def _on_task_success(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "success").inc()


def _on_task_failure(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "failure").inc()


def _on_task_retry(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "retry").inc()


def connect_celery_signals() -> None:
    """Count task outcomes in this process. Idempotent (dispatch_uid); done when this module is imported, so
    harnmodel/celery.py only needs to import it."""
    from celery.signals import task_failure, task_retry, task_success

    task_success.connect(_on_task_success, weak=False, dispatch_uid="harnmodel.metrics.success")
    task_failure.connect(_on_task_failure, weak=False, dispatch_uid="harnmodel.metrics.failure")
    task_retry.connect(_on_task_retry, weak=False, dispatch_uid="harnmodel.metrics.retry")


# -- scrape time -------------------------------------------------------------------------------------------------
class DatabaseCollector:
    """Gauges read from the database when scraped: a few indexed COUNTs, no per-request cost."""

    def describe(self) -> list[GaugeMetricFamily]:  # so registering never queries
        return list(self._families())

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "harnmodel_open_holds",
                "Holds open now across all workers: requests in flight on their own holds, and wallet leases.",
            ),
            GaugeMetricFamily(
                "harnmodel_open_holds_overdue", "Open holds past their expiry: the sweeper is behind or down."
            ),
            GaugeMetricFamily("harnmodel_channel_enabled", "1 when the channel is enabled.", labels=["channel"]),
            GaugeMetricFamily(
                "harnmodel_channel_info", "Channel id → name and provider.", labels=["channel", "name", "provider"]
            ),
            GaugeMetricFamily("harnmodel_database_up", "1 when the scrape could read the database."),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.utils import timezone

        from billing.models import Hold
        from gateway.models import Channel

        holds, overdue, enabled, info, up = self._families()
        try:
            open_holds = Hold.objects.filter(status=Hold.Status.OPEN)
            holds.add_metric([], open_holds.count())
            overdue.add_metric([], open_holds.filter(expires_at__lt=timezone.now()).count())
            for pk, name, provider, is_enabled in Channel.objects.values_list("pk", "name", "provider", "enabled"):
                enabled.add_metric([str(pk)], 1 if is_enabled else 0)
                info.add_metric([str(pk), name, provider], 1)
            up.add_metric([], 1)
            yield from (holds, overdue, enabled, info)
        except Exception:
            log.warning("metrics: database gauges unavailable", exc_info=True)
            up.add_metric([], 0)
        yield up


_DATABASE = DatabaseCollector()
if not MULTIPROC_DIR:
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)
    REGISTRY.register(_DATABASE)

_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def _reap_dead_workers(path: str) -> None:
    """Drop live-gauge files of workers that died (uvicorn restarts them) so in-flight counts stay true."""
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(file)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, someone else's


def exposition() -> tuple[bytes, str]:
    """The text format for a scrape, and its content type."""
    if MULTIPROC_DIR:
        _reap_dead_workers(MULTIPROC_DIR)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
        registry.register(_DATABASE)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


connect_celery_signals()
