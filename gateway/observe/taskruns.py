"""Records each run of a scheduled Celery task (TaskRun) from Celery's task_prerun / task_postrun signals.

The signals fire wherever a task body runs: in the worker, and in the calling process for eager runs
(`task.apply()`, CELERY_TASK_ALWAYS_EAGER). Only tasks named in CELERY_BEAT_SCHEDULE are recorded: the console
shows scheduled jobs, and a task per request (should one appear) must not pay a database write per run.
Recording never raises: a bookkeeping failure must not turn a job that worked into one that failed.
"""

import json
import logging
import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gateway.models import TaskRun
from gateway.observe.logformat import redact

log = logging.getLogger("harnmodel.taskruns")

SUMMARY_CHARS = 300
_MAX_PENDING = 1000  # started-but-unfinished runs remembered per process (a killed run never posts)
_STATES = {"SUCCESS": TaskRun.State.SUCCESS, "FAILURE": TaskRun.State.FAILURE, "RETRY": TaskRun.State.RETRY}

_started: dict[str, float] = {}  # task id -> perf_counter at prerun, for the runtime
_lock = threading.Lock()


def scheduled_task_names() -> set[str]:
    return {entry["task"] for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values()}


def summarize(retval: Any) -> str:
    """One redacted line: `Type: message` for an exception, compact JSON for a result."""
    if isinstance(retval, BaseException):
        text = f"{type(retval).__name__}: {retval}"
    elif retval is None:
        return ""
    else:
        try:
            text = json.dumps(retval, default=str, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            text = repr(retval)
    text = redact(" ".join(text.split()))  # keys, tokens and user:password@ in URLs
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def task_run_start(*, task: str, at: datetime) -> None:
    with transaction.atomic():
        TaskRun.objects.update_or_create(task=task, defaults={"last_started_at": at})


def task_run_finish(*, task: str, state: str, at: datetime, runtime_ms: int | None, summary: str) -> None:
    """Upsert the task's row: last run, result and counters (F() so concurrent workers never lose a count)."""
    failed = state == TaskRun.State.FAILURE
    changes: dict[str, Any] = {
        "last_finished_at": at,
        "last_state": state,
        "last_runtime_ms": runtime_ms,
        "last_summary": summary,
        "runs": F("runs") + 1,
    }
    if failed:
        changes |= {
            "failures": F("failures") + 1,
            "consecutive_failures": F("consecutive_failures") + 1,
            "last_failure_at": at,
            "last_error": summary,
        }
    elif state == TaskRun.State.SUCCESS:
        changes |= {"consecutive_failures": 0, "last_success_at": at}
    with transaction.atomic():  # a savepoint when called inside a caller's transaction (eager runs)
        TaskRun.objects.get_or_create(task=task)
        TaskRun.objects.filter(task=task).update(**changes)


def _task_name(sender: Any, task: Any) -> str:
    return str(getattr(task or sender, "name", "") or "")


def _on_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    name = _task_name(sender, task)
    if name not in scheduled_task_names():
        return
    with _lock:
        if len(_started) >= _MAX_PENDING:
            _started.clear()
        _started[str(task_id)] = time.perf_counter()
    try:
        task_run_start(task=name, at=timezone.now())
    except Exception:
        log.exception("taskruns: could not record the start of %s", name)


def _on_postrun(
    sender: Any = None, task_id: str | None = None, task: Any = None, retval: Any = None, state: Any = None, **_: Any
) -> None:
    name = _task_name(sender, task)
    with _lock:
        began = _started.pop(str(task_id), None)
    recorded = _STATES.get(str(state))
    if name not in scheduled_task_names() or recorded is None:
        return
    runtime_ms = round((time.perf_counter() - began) * 1000) if began is not None else None
    try:
        task_run_finish(task=name, state=recorded, at=timezone.now(), runtime_ms=runtime_ms, summary=summarize(retval))
    except Exception:
        log.exception("taskruns: could not record the end of %s", name)


def connect_celery_signals() -> None:
    """Idempotent (dispatch_uid); called from GatewayConfig.ready(), so worker, beat and eager callers all record."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="harnmodel.taskruns.prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="harnmodel.taskruns.postrun")
