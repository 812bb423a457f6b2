"""Serializers of teams: projects with their budgets and spend, and members' budgets. Money in micros."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...models import Project
from .customer import MAX_MICROS, SpendSerializer, spend_of


def _budget(period: str):
    return serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_MICROS,
                                    help_text=f"Spend allowed per calendar {period}, micros; null = no limit.")  # fmt: skip


class ProjectSerializer(serializers.ModelSerializer):
    key_count = serializers.IntegerField(read_only=True, default=0, help_text="Keys not revoked.")
    spend = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields: tuple[str, ...] = ("id", "name", "is_default", "budget_daily_micros", "budget_monthly_micros",
                                   "key_count", "spend", "created_at")  # fmt: skip
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(SpendSerializer)
    def get_spend(self, project: Project) -> dict:
        return spend_of(self.context, project.pk)


class ProjectWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    budget_daily_micros = _budget("day")
    budget_monthly_micros = _budget("month")

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A project needs a name.")
        return value


class MemberBudgetSerializer(serializers.Serializer):
    budget_daily_micros = _budget("day")
    budget_monthly_micros = _budget("month")
