"""Scheduled job runs in the console: read-only, written only by gateway.observe.taskruns.

Its own module (imported from GatewayConfig.ready) rather than gateway/admin.py: the recorder and its view
are one feature."""

from django.contrib import admin
from django.http import HttpRequest

from gateway.models import TaskRun

FIELDS = [
    "task",
    "last_state",
    "last_started_at",
    "last_finished_at",
    "last_runtime_ms",
    "last_summary",
    "last_success_at",
    "last_failure_at",
    "last_error",
    "runs",
    "failures",
    "consecutive_failures",
]


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = [
        "task",
        "last_state",
        "last_started_at",
        "last_finished_at",
        "last_runtime_ms",
        "runs",
        "failures",
        "consecutive_failures",
        "last_summary",
    ]
    list_filter = ["last_state"]
    search_fields = ["task"]
    fields = FIELDS
    readonly_fields = FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TaskRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TaskRun | None = None) -> bool:
        return False
