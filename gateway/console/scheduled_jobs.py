"""The beat schedule joined with each task's last recorded run (TaskRun), for the control room. Read-only."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from gateway.models import TaskRun

LATE_FACTOR = 2  # late when it has not started for this many intervals


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str  # the beat entry
    task: str
    interval: timedelta | None  # None for schedules that are not a fixed interval (crontab)
    run: TaskRun | None  # None: never ran (or not since records began)
    next_due: datetime | None
    late: bool
    failing: bool

    @property
    def every(self) -> str:
        if self.interval is None:
            return "custom"
        seconds = int(self.interval.total_seconds())
        for unit, size in (("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"

    @property
    def status(self) -> str:
        """One word for the badge; failing outranks late (a failing job is both, and that is the news)."""
        if self.failing:
            return "failing"
        if self.late:
            return "late"
        if self.run is None:
            return "never run"
        if self.run.running:
            return "running"
        return "ok"


def _interval(schedule: Any) -> timedelta | None:
    if isinstance(schedule, timedelta):
        return schedule
    if isinstance(schedule, int | float):
        return timedelta(seconds=schedule)
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule
    return run_every if isinstance(run_every, timedelta) else None


def scheduled_jobs(*, now: datetime | None = None) -> list[ScheduledJob]:
    """Every CELERY_BEAT_SCHEDULE entry in schedule order, with its last run and late/failing verdicts."""
    now = now or timezone.now()
    schedule: dict[str, dict[str, Any]] = getattr(settings, "CELERY_BEAT_SCHEDULE", {})
    runs = {run.task: run for run in TaskRun.objects.filter(task__in=[e["task"] for e in schedule.values()])}
    jobs = []
    for name, entry in schedule.items():
        run, interval = runs.get(entry["task"]), _interval(entry.get("schedule"))
        started = run.last_started_at if run else None
        next_due = started + interval if started and interval else None
        late = bool(started and interval and now - started > LATE_FACTOR * interval)
        failing = bool(run and run.last_state == TaskRun.State.FAILURE)
        jobs.append(ScheduledJob(name, entry["task"], interval, run, next_due, late, failing))
    return jobs
