"""Serializers of the operator scope. Channel secrets go in (write-only) and never come back out."""

from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from billing.models import RedemptionCode, UsageRecord
from billing.redemption import MAX_BATCH
from gateway.models import CatalogModel, Channel, ChannelProbe

from ...models import Account
from .customer import MAX_MICROS, PriceSerializer


class CustomerSerializer(serializers.ModelSerializer):
    balance_micros = serializers.IntegerField(source="wallet.balance_micros", read_only=True)
    held_micros = serializers.IntegerField(source="wallet.held_micros", read_only=True)

    class Meta:
        model = Account
        fields = ("id", "name", "email", "is_active", "created_at", "rpm_limit", "tpm_limit", "concurrency_limit",
                  "balance_micros", "held_micros")  # fmt: skip
        read_only_fields = fields


class AdjustmentSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount_micros = serializers.IntegerField(min_value=-MAX_MICROS, max_value=MAX_MICROS,
                                             help_text="Signed; not zero.")  # fmt: skip
    reason = serializers.CharField(max_length=500, help_text="Internal, required: the audit trail's why.")
    description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True,
                                        help_text="What the customer reads; empty: a neutral text.")  # fmt: skip

    def validate_amount_micros(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


class AdjustmentResultSerializer(serializers.Serializer):
    ledger_entry = serializers.IntegerField()
    account = serializers.IntegerField()
    amount_micros = serializers.IntegerField()
    balance_after_micros = serializers.IntegerField()


class OpsUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageRecord
        fields = ("id", "created_at", "request_id", "account_id", "api_key_id", "channel_id", "model_id",
                  "upstream_model", "stream", "status", "error_code", "input_tokens", "cached_input_tokens",
                  "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_micros", "upstream_cost_micros", "latency_ms",
                  "first_byte_ms", "usage_estimated")  # fmt: skip
        read_only_fields = fields


class ChannelSerializer(serializers.ModelSerializer):
    models = serializers.SerializerMethodField()
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ("id", "name", "provider", "base_url", "priority", "weight", "enabled", "options",
                  "disabled_reason", "connect_timeout", "first_byte_timeout", "idle_timeout", "secret_hint",
                  "has_secret", "last_probe_at", "last_probe_ok", "last_probe_latency_ms", "last_probe_error",
                  "models", "created_at", "updated_at")  # fmt: skip
        read_only_fields = fields

    def get_models(self, channel: Channel) -> list[str]:
        return sorted(m.model.public_id for m in channel.model_maps.all())

    def get_has_secret(self, channel: Channel) -> bool:
        return bool(channel.credentials.all())  # prefetched by the views


class ChannelWriteSerializer(serializers.Serializer):
    """Checked again by the console's own form (gateway.console.forms.ChannelAdminForm) before anything is saved."""

    name = serializers.CharField(max_length=128)
    provider = serializers.CharField(max_length=32)
    base_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    priority = serializers.IntegerField(required=False, default=0, min_value=-1_000_000, max_value=1_000_000)
    weight = serializers.IntegerField(required=False, default=1, min_value=0, max_value=1_000_000)
    enabled = serializers.BooleanField(required=False, default=True)
    options = serializers.DictField(required=False, default=dict)
    connect_timeout = serializers.FloatField(required=False, allow_null=True, default=None)
    first_byte_timeout = serializers.FloatField(required=False, allow_null=True, default=None)
    idle_timeout = serializers.FloatField(required=False, allow_null=True, default=None)
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=4096,
                                   help_text="Upstream credential: stored encrypted, never returned.")  # fmt: skip


class ProbeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChannelProbe
        fields = ("created_at", "model_id", "ok", "status", "latency_ms", "error")
        read_only_fields = fields


class ChannelHealthSerializer(serializers.Serializer):
    channel = serializers.IntegerField()
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(allow_blank=True)
    last_probe_ok = serializers.BooleanField(allow_null=True)
    probes = ProbeSerializer(many=True)


class CatalogModelSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()

    class Meta:
        model = CatalogModel
        fields = ("id", "public_id", "display_name", "description", "default_max_output_tokens", "context_window",
                  "routing", "enabled", "price", "created_at", "updated_at")  # fmt: skip
        read_only_fields = ("id", "price", "created_at", "updated_at")
        extra_kwargs = {
            # It travels in JSON bodies, URLs and logs: printable ASCII, no spaces.
            "public_id": {"validators": [RegexValidator(r"^[\x21-\x7e]+$", "Printable ASCII, no spaces."),
                                         UniqueValidator(queryset=CatalogModel.objects.all())]},
            "default_max_output_tokens": {"min_value": 1, "max_value": 10_000_000},
            "context_window": {"min_value": 1, "max_value": 100_000_000},
        }

    def get_price(self, model: CatalogModel) -> dict | None:
        from billing.selectors import price_current

        price = price_current(model_id=model.public_id)
        return PriceSerializer(price).data if price else None


class PricePublishSerializer(serializers.Serializer):
    input_micros = serializers.IntegerField(min_value=0, max_value=MAX_MICROS)
    cached_input_micros = serializers.IntegerField(min_value=0, max_value=MAX_MICROS)
    output_micros = serializers.IntegerField(min_value=0, max_value=MAX_MICROS)
    tool_call_micros = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_MICROS), required=False, default=dict
    )
    cache_write_micros = serializers.IntegerField(
        min_value=0, max_value=MAX_MICROS, required=False, allow_null=True, default=None,
        help_text="Per 1M prompt-cache write tokens; null: the input price.",
    )


class RedemptionBatchSerializer(serializers.Serializer):
    batch = serializers.CharField()
    codes = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    amount_micros = serializers.IntegerField(help_text="Total face value.")


class RedemptionBatchCreateSerializer(serializers.Serializer):
    batch = serializers.CharField(max_length=100)
    count = serializers.IntegerField(min_value=1, max_value=MAX_BATCH)
    amount_micros = serializers.IntegerField(min_value=1, max_value=MAX_MICROS)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    description = serializers.CharField(max_length=RedemptionCode._meta.get_field("description").max_length,
                                        required=False, default="", allow_blank=True)  # fmt: skip


class RedemptionBatchCreatedSerializer(serializers.Serializer):
    batch = serializers.CharField()
    codes = serializers.ListField(child=serializers.CharField(), help_text="Shown once; only hashes are stored.")
