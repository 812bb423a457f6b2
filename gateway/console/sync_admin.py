"""The console's review page for upstream model sync (UpstreamModelFinding): apply a new upstream model
(to the public model chosen in the row's "Map to" column, or as a draft public model: disabled, no price),
ignore it, or unmap a vanished one. Every action is audited with operator_action."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from gateway import signals
from gateway.models import UpstreamModelFinding
from gateway.upstream import model_sync as upstream_models

Finding = UpstreamModelFinding


def _state(finding: Finding) -> dict:
    return {"kind": finding.kind, "state": finding.state, "upstream_name": finding.upstream_name,
            "target": finding.target.public_id if finding.target else None}  # fmt: skip


@admin.register(UpstreamModelFinding)
class UpstreamModelFindingAdmin(admin.ModelAdmin):
    list_display = ["upstream_name", "channel", "change", "state", "target", "first_seen_at", "last_seen_at"]
    list_editable = ["target"]
    list_filter = ["state", "kind", "channel"]
    list_select_related = ["channel", "target"]
    search_fields = ["upstream_name", "channel__name"]
    autocomplete_fields = ["target"]
    actions = ["apply_selected", "ignore_selected", "unmap_selected"]
    fields = ["channel", "upstream_name", "kind", "state", "target", "first_seen_at", "last_seen_at"]
    readonly_fields = ["channel", "upstream_name", "kind", "state", "first_seen_at", "last_seen_at"]

    @admin.display(description="Change", ordering="kind")
    def change(self, finding: Finding) -> str:
        if finding.kind == Finding.Kind.VANISHED:  # flagged: customers routed here may fail until it is unmapped
            return format_html('<span class="hm-bad">{}</span>', "● vanished upstream")
        return format_html('<span class="hm-ok">{}</span>', "+ new upstream")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from the sync job only

    def _each(self, request: HttpRequest, queryset: QuerySet, action: str, run, done: str) -> None:
        count = 0
        for finding in queryset.select_related("channel", "target"):
            before = _state(finding)
            try:
                run(finding)
            except upstream_models.ApplyError as exc:
                messages.warning(request, str(exc))
                continue
            signals.operator_action.send(sender=None, actor=request.user, action=action, obj=finding.channel,
                                         before=before, after=_state(finding))  # fmt: skip
            count += 1
        messages.success(request, f"{done} {count} upstream model(s).")

    @admin.action(description="Apply: map to the chosen public model, or create a draft (no price)",
                  permissions=["change"])  # fmt: skip
    def apply_selected(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._each(request, queryset.filter(state=Finding.State.OPEN), "upstream_model_apply",
                   upstream_models.apply_finding, "Applied")  # fmt: skip

    @admin.action(description="Ignore selected", permissions=["change"])
    def ignore_selected(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._each(request, queryset.filter(state=Finding.State.OPEN), "upstream_model_ignore",
                   upstream_models.ignore_finding, "Ignored")  # fmt: skip

    @admin.action(description="Unmap vanished models from their channel", permissions=["change"])
    def unmap_selected(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._each(request, queryset.filter(kind=Finding.Kind.VANISHED).exclude(state=Finding.State.UNMAPPED),
                   "upstream_model_unmap", upstream_models.unmap_finding, "Unmapped")  # fmt: skip
