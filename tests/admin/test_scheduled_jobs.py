"""Scheduled jobs: every beat task's last run recorded from Celery's signals, shown in the control room."""

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.schedules import crontab
from celery.signals import setup_logging
from django.urls import reverse
from django.utils import timezone

from billing.tasks import reconcile_ledger, sweep_expired_holds
from gateway.console.scheduled_jobs import scheduled_jobs
from gateway.models import TaskRun
from gateway.observe.taskruns import SUMMARY_CHARS, summarize
from gateway.tasks import probe_channels
from harnmodel.celery import app

FAILING = "tests.admin.failing_job"
UNSCHEDULED = "tests.admin.unscheduled_job"


_JOB = {"broken": True}


@app.task(name=FAILING)
def failing_job() -> dict:
    if _JOB["broken"]:
        raise RuntimeError("ledger store refused: Bearer abcdefgh12345678 at redis://ops:hunter2@cache:6379/0")
    return {"fixed": True}


@app.task(name=UNSCHEDULED)
def unscheduled_job() -> str:
    return "done"


@pytest.fixture
def with_failing_job(settings):
    """The beat schedule plus a job that always raises (a real task, run by Celery's real tracer)."""
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "test-failing": {"task": FAILING, "schedule": 120.0},
    }


def _reset_broker_pools() -> None:
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


def _keep_logging(**_: object) -> None:
    """A setup_logging receiver: Celery then leaves the test process's logging (root handlers, caplog) alone."""


@pytest.fixture
def worker(transactional_db) -> Iterator[None]:
    """A real Celery worker (solo pool) in a thread on an in-memory broker: tasks go through the queue."""
    broker_url, logging_was_setup = app.conf.broker_url, type(app.log)._setup
    _reset_broker_pools()
    app.conf.broker_url = "memory://"
    setup_logging.connect(_keep_logging)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        setup_logging.disconnect(_keep_logging)
        type(app.log)._setup = logging_was_setup
        _reset_broker_pools()
        app.conf.broker_url = broker_url


def _wait_for_run(task: str, runs: int = 1, timeout: float = 20) -> TaskRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TaskRun.objects.filter(task=task, runs__gte=runs).first()
        if run is not None:
            return run
        time.sleep(0.05)
    raise AssertionError(f"{task} was not recorded within {timeout} s")


# -- recording ----------------------------------------------------------------------------------------------------
def test_a_real_worker_records_success_and_failure(with_failing_job, worker):
    sweep_expired_holds.delay()
    failing_job.delay()
    ok, bad = _wait_for_run(sweep_expired_holds.name), _wait_for_run(FAILING)

    assert (ok.last_state, ok.last_summary, ok.runs, ok.failures) == ("success", "0", 1, 0)
    assert ok.last_started_at <= ok.last_finished_at == ok.last_success_at
    assert ok.last_runtime_ms is not None and ok.last_runtime_ms < 10_000

    assert (bad.last_state, bad.runs, bad.failures, bad.consecutive_failures) == ("failure", 1, 1, 1)
    assert bad.last_summary.startswith("RuntimeError: ledger store refused")
    assert bad.last_error == bad.last_summary and bad.last_failure_at == bad.last_finished_at
    assert "abcdefgh12345678" not in bad.last_summary and "hunter2" not in bad.last_summary


def test_eager_runs_record_too_and_counters_add_up(db, with_failing_job):
    assert reconcile_ledger.apply().successful()
    run = TaskRun.objects.get(task=reconcile_ledger.name)
    assert run.last_state == "success" and run.last_summary == '{"drift":0,"wallets":0}'

    for _ in range(2):
        assert failing_job.apply().failed()
    run = TaskRun.objects.get(task=FAILING)
    assert (run.runs, run.failures, run.consecutive_failures) == (2, 2, 2)
    error = run.last_error

    # The job recovers: the streak resets, the last failure stays readable.
    _JOB["broken"] = False
    try:
        assert failing_job.apply().successful()
    finally:
        _JOB["broken"] = True
    run.refresh_from_db()
    assert (run.last_state, run.runs, run.failures, run.consecutive_failures) == ("success", 3, 2, 0)
    assert run.last_summary == '{"fixed":true}' and run.last_error == error


def test_tasks_outside_the_beat_schedule_are_not_recorded(db):
    assert unscheduled_job.apply().get() == "done"
    assert not TaskRun.objects.filter(task=UNSCHEDULED).exists()


def test_summaries_are_one_short_redacted_line():
    assert summarize(ValueError("bad\n  thing")) == "ValueError: bad thing"
    assert "sk-[REDACTED]" in summarize(RuntimeError("key sk-" + "a" * 40))
    assert summarize({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert summarize(None) == ""
    long = summarize("x" * 1000)
    assert len(long) == SUMMARY_CHARS and long.endswith("…")


# -- the control room ---------------------------------------------------------------------------------------------
def _run(task: str, *, started_ago: timedelta, state: str = "success", **extra) -> TaskRun:
    started = timezone.now() - started_ago
    return TaskRun.objects.create(
        task=task,
        last_started_at=started,
        last_finished_at=started + timedelta(milliseconds=40),
        last_state=state,
        last_runtime_ms=40,
        runs=5,
        **extra,
    )


def test_late_and_failing_verdicts(db, settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "every-minute": {"task": "a", "schedule": 60.0},
        "every-10-min": {"task": "b", "schedule": timedelta(minutes=10)},
        "hourly": {"task": "c", "schedule": 3600.0},
        "nightly": {"task": "d", "schedule": crontab(hour=3, minute=0)},
        "new": {"task": "e", "schedule": 60.0},
    }
    _run("a", started_ago=timedelta(seconds=119))  # inside 2 intervals
    _run("b", started_ago=timedelta(minutes=21))  # past 2 intervals
    _run("c", started_ago=timedelta(minutes=5), state="failure", last_summary="OperationalError: gone")
    _run("d", started_ago=timedelta(days=3))  # not a fixed interval: never called late
    jobs = {job.task: job for job in scheduled_jobs()}
    assert [jobs[t].status for t in "abcde"] == ["ok", "late", "failing", "ok", "never run"]
    assert [jobs[t].every for t in "abcd"] == ["1 min", "10 min", "1 h", "custom"]
    assert jobs["a"].next_due == jobs["a"].run.last_started_at + timedelta(seconds=60)
    assert jobs["d"].next_due is None and jobs["e"].run is None


def _row(html: str, task: str) -> str:
    match = re.search(rf'<tr data-task="{re.escape(task)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {task}"
    return match.group(1)


def test_control_room_lists_every_beat_task_with_badges(admin_client, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    tasks = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    _run(sweep_expired_holds.name, started_ago=timedelta(minutes=10))  # every 60 s: late
    _run(reconcile_ledger.name, started_ago=timedelta(minutes=3), state="failure", last_summary="DriftError: 2 wallets")
    _run(probe_channels.name, started_ago=timedelta(seconds=20), last_summary='{"probed":3}')

    html = admin_client.get(reverse("admin:ops")).content.decode()
    assert "Scheduled jobs" in html
    for task in tasks:
        assert f'data-task="{task}"' in html, task
    late = _row(html, sweep_expired_holds.name)
    assert "ops-cool\">late" in late and "overdue" in late and "1 min" in late
    failing = _row(html, reconcile_ledger.name)
    assert "ops-off\">failing" in failing and "DriftError: 2 wallets" in failing and "1 h" in failing
    ok = _row(html, probe_channels.name)
    assert "ops-ok\">ok" in ok and "40 ms" in ok and "{&quot;probed&quot;:3}" in ok
    never = _row(html, "billing.tasks.rollup_usage")
    assert "never run" in never and "never" in never


# -- the admin ----------------------------------------------------------------------------------------------------
def test_task_run_admin_is_read_only(admin_client, db):
    run = _run(reconcile_ledger.name, started_ago=timedelta(minutes=1), last_summary='{"drift":0}')
    changelist = admin_client.get(reverse("admin:gateway_taskrun_changelist"))
    assert changelist.status_code == 200 and reconcile_ledger.name in changelist.content.decode()
    change_url = reverse("admin:gateway_taskrun_change", args=[run.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200 and '{"drift":0}' in page.content.decode().replace("&quot;", '"')
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"task": "renamed"}).status_code == 403
    assert admin_client.get(reverse("admin:gateway_taskrun_add")).status_code == 403
    assert admin_client.post(reverse("admin:gateway_taskrun_delete", args=[run.pk]), {"post": "yes"}).status_code == 403
    run.refresh_from_db()
    assert run.task == reconcile_ledger.name
