"""Admin forms for channels and API keys: secrets go in, never come back out."""

from typing import Any

from django import forms
from django.utils import timezone

from billing.money import AmountError, decimal_string, parse_amount
from gateway.models import ApiKey, CatalogModel, Channel, ChannelModel
from gateway.pool.store import MAX_SECRET, add_secrets, parse_pasted
from gateway.protocols.registry import get_adapter, provider_choices
from gateway.relay import field_policy
from gateway.upstream.balances import KINDS as BALANCE_KINDS

TIMEOUT_FIELDS = ["connect_timeout", "first_byte_timeout", "idle_timeout"]  # seconds; empty = platform default
MAX_TIMEOUT = 3600
# The field policy's switches (gateway/relay/field_policy.py), edited as lists here and kept in Channel.options.
POLICY_FIELDS = {
    "allow_fields": "Gated fields this channel forwards (e.g. background, store, conversation, prompt, "
    "item_reference, file_id, service_tier), or unknown top-level fields by name. One per line or comma-separated.",
    "allow_tools": "Hosted tools this channel may run: " + ", ".join(field_policy.HOSTED_TOOLS)
    + ". The model also needs a per-call price for each.",
    "allow_url_hosts": "Internal hosts customer image/file URLs may name: host names, *.suffix, IPs or CIDRs.",
    "drop_tools": "Hosted tools this channel does not run but removes from a request instead of refusing it "
    "(* for all), so an agent that always offers one (Codex: web_search) still gets its turn. docs/agents.md.",
}


def balance_option_problems(options: dict) -> list[str]:
    """options["balance_kind"] must name a balance reader; options["balance_alert_below"] a non-negative amount."""
    problems = []
    kind = options.get("balance_kind")
    if kind not in (None, "") and kind not in BALANCE_KINDS:
        problems.append(f"balance_kind must be one of: {', '.join(sorted(BALANCE_KINDS))}.")
    below = options.get("balance_alert_below")
    if below not in (None, ""):
        try:
            parse_amount(str(below))
        except AmountError as exc:
            problems.append(f"balance_alert_below: {exc} (a decimal amount in the upstream's currency).")
    return problems


class WriteOnlyTextarea(forms.Textarea):
    """Secrets pasted here are never rendered back, not even when the form comes back with an error."""

    def format_value(self, value: Any) -> None:
        return None


class ChannelAdminForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices, help_text="Protocol adapter that speaks to this upstream.")
    new_secret = forms.CharField(
        label="Add credentials",
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Upstream API keys to add to this channel's pool, one per line. Stored encrypted and never shown "
        "again; keys the pool already holds are skipped. Switch keys off or delete them in the list below.",
    )
    allow_fields = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=POLICY_FIELDS["allow_fields"])
    allow_tools = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text=POLICY_FIELDS["allow_tools"])
    allow_url_hosts = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                      help_text=POLICY_FIELDS["allow_url_hosts"])
    drop_tools = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text=POLICY_FIELDS["drop_tools"])

    class Meta:
        model = Channel
        fields = [
            "name",
            "provider",
            "base_url",
            "priority",
            "weight",
            "enabled",
            "options",
            *TIMEOUT_FIELDS,
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = self.instance.options or {}
        for name in POLICY_FIELDS:
            if isinstance(options.get(name), list):
                self.initial[name] = "\n".join(map(str, options[name]))

    def clean_base_url(self) -> str:
        base_url = self.cleaned_data.get("base_url", "").strip()
        if base_url and not base_url.startswith(("http://", "https://")):
            raise forms.ValidationError("Must be an http:// or https:// URL.")
        return base_url

    def clean_new_secret(self) -> list[str]:
        pasted = parse_pasted(self.cleaned_data.get("new_secret") or "")
        if any(len(secret) > MAX_SECRET or any(ch.isspace() for ch in secret) for secret in pasted):
            raise forms.ValidationError("One key per line, without spaces inside a key (nothing was added).")
        return pasted

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in TIMEOUT_FIELDS:
            value = cleaned.get(name)
            if value is not None and not 0 < value <= MAX_TIMEOUT:
                self.add_error(name, f"Seconds between 0 and {MAX_TIMEOUT} (leave empty for the platform default).")
        options = cleaned.get("options")
        if isinstance(options, dict):
            options = dict(options)
            for name in POLICY_FIELDS:  # the list fields win over the same keys typed into options
                entries = [e.strip() for e in (cleaned.get(name) or "").replace(",", "\n").splitlines() if e.strip()]
                if entries:
                    options[name] = entries
                else:
                    options.pop(name, None)
            for problem in field_policy.validate_options(options):
                self.add_error(problem.split(" ", 1)[0].rstrip(":"), problem)
            for problem in balance_option_problems(options):
                self.add_error("options", problem)
            cleaned["options"] = options
        provider = cleaned.get("provider")
        if provider and "base_url" in cleaned and not cleaned["base_url"] and get_adapter(provider).needs_base_url:
            self.add_error("base_url", f"The {provider} provider needs a base URL.")
        return cleaned

    def _save_m2m(self) -> None:
        # Runs once the channel has its primary key (after save, or the admin's save_related).
        super()._save_m2m()
        pasted = self.cleaned_data.get("new_secret")
        if pasted:
            add_secrets(self.instance, pasted)


def _model_id_choices(keep: list[str]) -> list[tuple[str, str]]:
    # Keep IDs the key already allows even if they left the catalog, so editing its name still validates.
    ids = set(CatalogModel.objects.values_list("public_id", flat=True)) | set(keep)
    return [(public_id, public_id) for public_id in sorted(ids)]


class ApiKeyAdminForm(forms.ModelForm):
    allowed_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Public model IDs this key may call. None ticked: every model.",
    )

    class Meta:
        model = ApiKey
        fields = ["account", "name", "allowed_models", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = list(self.instance.allowed_models or []) if self.instance.pk else []
        self.fields["allowed_models"].choices = _model_id_choices(current)

    def clean_allowed_models(self) -> list[str]:
        return sorted(set(self.cleaned_data.get("allowed_models") or []))

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at and "expires_at" in self.changed_data and expires_at <= timezone.now():
            raise forms.ValidationError("Already in the past; use “Revoke selected keys” to stop a key now.")
        return expires_at


class ModelMapForm(forms.ModelForm):
    """A model map entry; its upstream cost typed in currency units per 1M tokens (stored exactly, in micros)."""

    COSTS = {
        "cost_input": "cost_input_micros",
        "cost_cached_input": "cost_cached_input_micros",
        "cost_output": "cost_output_micros",
    }
    cost_input = forms.CharField(required=False, label="Cost in / 1M", help_text="What the channel charges us.")
    cost_cached_input = forms.CharField(required=False, label="Cost cached / 1M")
    cost_output = forms.CharField(required=False, label="Cost out / 1M")

    class Meta:
        model = ChannelModel
        fields = ["channel", "model", "upstream_name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, column in self.COSTS.items():
            micros = getattr(self.instance, column, None)
            if micros is not None:
                self.initial[field] = decimal_string(micros)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        given = {field: (data.get(field) or "").strip() for field in self.COSTS}
        if any(given.values()) and not all(given.values()):
            raise forms.ValidationError("Give all three costs (input, cached input, output), or none.")
        for field, text in given.items():
            try:
                data[field] = parse_amount(text) if text else None
            except AmountError as exc:
                self.add_error(field, str(exc))
        return data

    def save(self, commit: bool = True) -> ChannelModel:
        for field, column in self.COSTS.items():
            setattr(self.instance, column, self.cleaned_data.get(field))
        return super().save(commit)
