"""Serializers of the customer scope. Money is integer micros (millionths of the platform currency)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import LedgerEntry, TopUpOrder, UsageRecord
from gateway.models import ApiKey

from ...models import Invitation, ManagementKey, Membership
from ...portal.forms import MAX_AMOUNT  # the portal's typo guard on any typed amount

MAX_MICROS = MAX_AMOUNT * 1_000_000  # the portal's bound on any typed amount
MAX_RATE = 10_000_000  # rpm/tpm/concurrency bound: far above any plan, small enough for every database
LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "concurrency_limit",
                "spend_limit_total_micros", "spend_limit_daily_micros", "spend_limit_monthly_micros",
                "session_budget_micros")  # fmt: skip


class WalletSerializer(serializers.Serializer):
    balance_micros = serializers.IntegerField()
    held_micros = serializers.IntegerField()
    available_micros = serializers.IntegerField()
    low_balance_threshold_micros = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    email = serializers.EmailField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    role = serializers.CharField(read_only=True, help_text="owner or member (a management key acts as owner).")
    wallet = WalletSerializer(read_only=True)


class AccountRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class ApiKeySerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    project = serializers.IntegerField(source="project_id", read_only=True, allow_null=True,
                                       help_text="The project whose budgets this key spends from.")  # fmt: skip

    class Meta:
        model = ApiKey
        fields: tuple[str, ...] = ("id", "name", "prefix", "project", "allowed_models", "expires_at", "revoked_at",
                                   "last_used_at", "created_at", *LIMIT_FIELDS, "state")  # fmt: skip
        read_only_fields: tuple[str, ...] = fields

    def get_state(self, key: ApiKey) -> str:
        if key.revoked_at:
            return "revoked"
        return "expired" if key.expires_at and key.expires_at <= timezone.now() else "active"


def _limit(**kw):
    return serializers.IntegerField(required=False, allow_null=True, min_value=1, **kw)


class ApiKeyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, max_length=500,
        help_text="Public model IDs; empty = every model.",
    )  # fmt: skip
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    project = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, source="project_id",
                                       help_text="One of GET /api/v1/projects/; default: the default project.")  # fmt: skip
    rpm_limit = _limit(max_value=MAX_RATE)
    tpm_limit = _limit(max_value=MAX_RATE)
    concurrency_limit = _limit(max_value=MAX_RATE)
    spend_limit_total_micros = _limit(max_value=MAX_MICROS)
    spend_limit_daily_micros = _limit(max_value=MAX_MICROS)
    spend_limit_monthly_micros = _limit(max_value=MAX_MICROS)
    session_budget_micros = _limit(
        max_value=MAX_MICROS, help_text="Most one session (X-Session-Id or prompt_cache_key) may spend; null = none."
    )

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        if value is not None and value.year > 2999:
            raise serializers.ValidationError("The expiry is too far away.")
        return value


class ApiKeyCreatedSerializer(ApiKeySerializer):
    secret = serializers.CharField(help_text="Shown once; only its HMAC is stored.")

    class Meta(ApiKeySerializer.Meta):
        fields: tuple[str, ...] = (*ApiKeySerializer.Meta.fields, "secret")
        read_only_fields: tuple[str, ...] = fields


class ManagementKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ManagementKey
        fields: tuple[str, ...] = ("id", "name", "prefix", "created_at", "last_used_at", "revoked_at")
        read_only_fields: tuple[str, ...] = fields


class ManagementKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")


class ManagementKeyCreatedSerializer(ManagementKeySerializer):
    secret = serializers.CharField(help_text="Shown once; only its HMAC is stored.")

    class Meta(ManagementKeySerializer.Meta):
        fields: tuple[str, ...] = (*ManagementKeySerializer.Meta.fields, "secret")
        read_only_fields: tuple[str, ...] = fields


class UsageSerializer(serializers.ModelSerializer):
    """What a customer may see of a request: never the channel, upstream model or attempts."""

    api_key_name = serializers.CharField(source="api_key.name", default=None, allow_null=True)
    api_key_prefix = serializers.CharField(source="api_key.prefix", default=None, allow_null=True)

    class Meta:
        model = UsageRecord
        fields = ("id", "created_at", "request_id", "api_key_id", "api_key_name", "api_key_prefix", "model_id",
                  "stream", "status", "error_code", "input_tokens", "cached_input_tokens",
                  "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_micros", "latency_ms", "usage_estimated")  # fmt: skip
        read_only_fields = fields


class DailySpendSerializer(serializers.Serializer):
    day = serializers.DateField()
    count = serializers.IntegerField()
    amount_micros = serializers.IntegerField(help_text="Negative: money spent that day.")


class LedgerSerializer(serializers.ModelSerializer):
    """Never `note` (staff-only) nor `actor`."""

    class Meta:
        model = LedgerEntry
        fields = ("id", "created_at", "kind", "amount_micros", "balance_after_micros", "description", "request_id")
        read_only_fields = fields


class TopUpSerializer(serializers.ModelSerializer):
    class Meta:
        model = TopUpOrder
        fields = ("id", "provider", "amount_micros", "currency", "status", "qr_code", "created_at", "expires_at",
                  "paid_at")  # fmt: skip
        read_only_fields = fields


class TopUpStartSerializer(serializers.Serializer):
    amount_micros = serializers.IntegerField(min_value=1, max_value=MAX_MICROS)
    provider = serializers.CharField(max_length=32, required=False, default="",
                                     help_text="A configured provider; empty: the first one.")  # fmt: skip
    success_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)
    cancel_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)


class TopUpStartedSerializer(serializers.Serializer):
    order = TopUpSerializer()
    checkout_url = serializers.CharField(allow_blank=True, help_text="Send the payer here (hosted checkout).")
    qr_code = serializers.CharField(allow_blank=True, help_text="Or show this as a QR code to scan.")


class RedeemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)


class PriceSerializer(serializers.Serializer):
    input_micros = serializers.IntegerField(help_text="Per 1M input tokens.")
    cached_input_micros = serializers.IntegerField()
    output_micros = serializers.IntegerField()
    cache_write_micros = serializers.IntegerField(allow_null=True, help_text="Per 1M cache-write tokens; null: input.")
    tool_call_micros = serializers.DictField(child=serializers.IntegerField())
    effective_from = serializers.DateTimeField()


class MyPriceSerializer(PriceSerializer):
    multiplier_ppm = serializers.IntegerField(
        allow_null=True, help_text="Your group's multiplier on the list price, in ppm (1000000 = ×1); null: none."
    )


class ModelPriceSerializer(serializers.Serializer):
    id = serializers.CharField(source="model.public_id")
    display_name = serializers.CharField(source="model.display_name")
    description = serializers.CharField(source="model.description")
    context_window = serializers.IntegerField(source="model.context_window")
    price = MyPriceSerializer(allow_null=True, help_text="What your account pays: your customer group's price.")


class SpendSerializer(serializers.Serializer):
    """What a project (or the keys a member made) spent: settled requests this calendar day and month."""

    today_micros = serializers.IntegerField()
    month_micros = serializers.IntegerField()


def spend_of(context: dict, pk: int) -> dict:
    """The view puts {id: {"daily": µ, "monthly": µ}} in the serializer context (one query per page)."""
    spent = context.get("spend", {}).get(pk, {"daily": 0, "monthly": 0})
    return {"today_micros": spent["daily"], "month_micros": spent["monthly"]}


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    spend = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ("id", "email", "role", "created_at", "budget_daily_micros", "budget_monthly_micros", "spend")
        read_only_fields = fields

    @extend_schema_field(SpendSerializer)
    def get_spend(self, member: Membership) -> dict:
        return spend_of(self.context, member.pk)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "created_at", "expires_at")
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.URLField(max_length=1000, help_text="https only; no loopback or private hosts.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                   max_length=50, help_text="Event types; empty = every one.")  # fmt: skip
    enabled = serializers.BooleanField(required=False, default=True)
    created_at = serializers.DateTimeField(read_only=True)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_…: shown once; verifies our signatures.")


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    message_id = serializers.CharField(help_text="The webhook-id header.")
    event_type = serializers.CharField()
    payload = serializers.JSONField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
