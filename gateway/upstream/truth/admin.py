"""The console's Channel truth page: every channel × model's score with its evidence (token ratio, canary
verdicts), its demotion, and the operator's actions: run the canaries now, trust a channel (its answers
become the references), lift a demotion, re-score. Rows are written by the scoring job only."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from gateway import signals
from gateway.upstream.truth import canary_run, score
from gateway.upstream.truth.models import CanaryReference, CanaryRun, TruthScore


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TruthScore)
class TruthScoreAdmin(admin.ModelAdmin):
    list_display = ["channel_name", "model_id", "score_badge", "ratio", "canaries", "demotion"]
    list_select_related = ["channel"]
    search_fields = ["channel__name", "model_id"]
    ordering = ["score", "channel__name", "model_id"]
    actions = ["run_canaries", "trust_as_reference", "lift_demotion", "rescore"]
    fields = ["channel", "model_id", "score", "demoted_until", "demote_factor", "computed_at", "evidence"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("Channel"), ordering="channel__name")
    def channel_name(self, row: TruthScore) -> str:
        return row.channel.name

    @admin.display(description=_("Score"), ordering="score")
    def score_badge(self, row: TruthScore) -> str:
        css = "hm-ok" if row.score >= 80 else "hm-bad"
        return format_html('<span class="{}">● {}</span>', css, row.score)

    @admin.display(description=_("Reported ÷ counted input"))
    def ratio(self, row: TruthScore) -> str:
        found = (row.evidence or {}).get("ratio")
        if not found:
            return "—"
        flag = " ⚠" if found.get("inflated") else ""
        return f"{found['median']:.3f} (n={found['n']}, {found['vocabulary']}){flag}"

    @admin.display(description=_("Canaries"))
    def canaries(self, row: TruthScore) -> str:
        found = (row.evidence or {}).get("canaries") or {}
        if not found:
            return "—"
        marks = {"match": "✓", "drift": "✗ drift", "error": "! error", "unreferenced": "? no reference"}
        return format_html_join(" ", '<span class="{}" title="{}">{} {}</span>', (
            ("hm-ok" if v["verdict"] == "match" else "hm-bad", v.get("detail", ""), name, marks.get(v["verdict"], "…"))
            for name, v in found.items()
        ))  # fmt: skip (the detail of a drift is the title, and on the row's page)

    @admin.display(description=_("Demoted"), ordering="demoted_until")
    def demotion(self, row: TruthScore) -> str:
        if row.demoted_until is None or row.demoted_until <= timezone.now():
            return "—"
        return format_html('<span class="hm-bad">× {} until {}</span>',
                           f"{row.demote_factor:g}", timezone.localtime(row.demoted_until).strftime("%m-%d %H:%M"))  # fmt: skip

    def _audit(self, request: HttpRequest, rows: QuerySet[TruthScore], action: str) -> None:
        for row in rows.select_related("channel"):
            signals.operator_action.send(sender=None, actor=request.user, action=action, obj=row.channel,
                                         before={"model": row.model_id, "score": row.score},
                                         after={"model": row.model_id})  # fmt: skip

    @admin.action(description=_("Run the canaries now on the selected channels"), permissions=["change"])
    def run_canaries(self, request: HttpRequest, queryset: QuerySet[TruthScore]) -> None:
        runs = canary_run.run_channels(sorted(set(queryset.values_list("channel_id", flat=True))))
        score.score_all()
        drift = sum(r.verdict == CanaryRun.Verdict.DRIFT for r in runs)
        messages.success(request, _("%(runs)d canary answers, %(drift)d drifting.") % {"runs": len(runs), "drift": drift})

    @admin.action(description=_("Trust the selected channels: record their answers as the references"),
                  permissions=["change"])  # fmt: skip
    def trust_as_reference(self, request: HttpRequest, queryset: QuerySet[TruthScore]) -> None:
        self._audit(request, queryset, "truth_reference_record")
        runs = canary_run.record_references(sorted(set(queryset.values_list("channel_id", flat=True))))
        messages.success(request, _("%(n)d reference answers recorded.") % {"n": sum(r.answer is not None for r in runs)})

    @admin.action(description=_("Lift the demotion of the selected rows"), permissions=["change"])
    def lift_demotion(self, request: HttpRequest, queryset: QuerySet[TruthScore]) -> None:
        self._audit(request, queryset, "truth_demotion_lift")
        for row in queryset:
            score.lift(row)
        messages.success(request, _("Demotion lifted."))

    @admin.action(description=_("Re-score now"), permissions=["change"])
    def rescore(self, request: HttpRequest, queryset: QuerySet[TruthScore]) -> None:
        summary = score.score_all()
        messages.success(request, _("%(n)d scored, %(d)d demoted.") % {"n": summary.scored, "d": len(summary.demoted)})

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # actions yes, edits no


@admin.register(CanaryReference)
class CanaryReferenceAdmin(ReadOnly):
    list_display = ["model_id", "canary", "source_channel", "recorded_at"]
    list_filter = ["model_id", "canary"]
    fields = ["model_id", "canary", "source_channel", "recorded_at", "answer"]
    readonly_fields = fields


@admin.register(CanaryRun)
class CanaryRunAdmin(ReadOnly):
    list_display = ["created_at", "channel", "model_id", "canary", "verdict", "detail"]
    list_filter = ["verdict", "canary", "channel", "model_id"]
    list_select_related = ["channel"]
    ordering = ["-created_at", "-pk"]
    fields = ["created_at", "channel", "model_id", "canary", "verdict", "detail", "answer"]
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
