"""Channel and model edits made through the console's change forms, audited with before → after, and
the History pages that show them (a model's page also shows its price versions)."""

from typing import Any

from django import forms
from django.http import HttpRequest

from billing.admin_history import AuditHistoryMixin, price_history
from billing.history import audit_history, changed_only
from billing.money import decimal_string
from gateway.models import CatalogModel, Channel, ChannelModel
from gateway.signals import operator_action

# What the channel form edits (the credential only as "replaced", never its value).
CHANNEL_FIELDS = ["name", "provider", "base_url", "priority", "weight", "enabled", "options"]
CHANNEL_FIELDS += ["connect_timeout", "first_byte_timeout", "idle_timeout"]  # seconds, None = platform default
MODEL_FIELDS = ["public_id", "display_name", "description", "enabled", "default_max_output_tokens", "context_window",
                "routing"]


def _map_entry(entry: ChannelModel) -> str:
    name = entry.upstream_name or entry.model.public_id
    if entry.cost_input_micros is None:
        return name
    costs = (entry.cost_input_micros, entry.cost_cached_input_micros, entry.cost_output_micros)
    return f"{name} (cost {' / '.join(decimal_string(c or 0) for c in costs)} per 1M)"


def model_map(channel_id: int) -> dict[str, str]:
    """public model ID → the name sent upstream (an empty upstream name means the same ID), with the
    channel's cost price for it when one is set: a cost change is a price change, kept in the history."""
    maps = ChannelModel.objects.filter(channel_id=channel_id).select_related("model")
    return {m.model.public_id: _map_entry(m) for m in maps}


def channel_state(channel: Channel) -> dict[str, Any]:
    state = {name: getattr(channel, name) for name in CHANNEL_FIELDS}
    # The key pool by short id: pasted, switched, reweighted or deleted keys show in the diff, never a secret.
    state["credentials"] = {
        c.public_id: f"{c.secret_hint} weight {c.weight} {'on' if c.enabled else 'off'}"
        for c in channel.credentials.order_by("pk")
    }
    state["model_map"] = model_map(channel.pk)
    return state


def _send(request: HttpRequest, action: str, obj: Any, before: dict, after: dict) -> None:
    if before or after:
        operator_action.send(sender=type(obj), actor=request.user, action=action, obj=obj, before=before, after=after)


class ChannelAuditMixin(AuditHistoryMixin):
    """Every save of the channel form (its model map inline included) is one audit entry holding only
    what changed; a save that changes nothing writes none."""

    def save_model(self, request: HttpRequest, obj: Channel, form: forms.ModelForm, change: bool) -> None:
        # The form has already written its values onto obj: "before" comes from the database.
        form._audit_before = channel_state(Channel.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, after = changed_only(form._audit_before, channel_state(form.instance))
        _send(request, "channel_change" if change else "channel_create", form.instance, before, after)


class CatalogModelAuditMixin(AuditHistoryMixin):
    """Model edits are audited on the model; its "channels serving this model" inline edits channels'
    model maps, so those are audited on each channel whose map changed."""

    def save_model(self, request: HttpRequest, obj: CatalogModel, form: forms.ModelForm, change: bool) -> None:
        if change:
            old = CatalogModel.objects.get(pk=obj.pk)
            form._audit_before = {name: getattr(old, name) for name in MODEL_FIELDS}
            serving = ChannelModel.objects.filter(model_id=obj.pk).values_list("channel_id", flat=True)
            form._audit_maps = {channel_id: model_map(channel_id) for channel_id in serving}
        else:
            form._audit_before, form._audit_maps = {}, {}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        model = form.instance
        before, after = changed_only(form._audit_before, {name: getattr(model, name) for name in MODEL_FIELDS})
        _send(request, "model_change" if change else "model_create", model, before, after)
        serving = set(ChannelModel.objects.filter(model_id=model.pk).values_list("channel_id", flat=True))
        for channel in Channel.objects.filter(pk__in=serving | set(form._audit_maps)):
            new, old = model_map(channel.pk), form._audit_maps.get(channel.pk)
            if old is None:  # newly mapped to this model: the rest of its map was not touched here
                old = {k: v for k, v in new.items() if k != model.public_id}
            if old != new:
                _send(request, "channel_model_map", channel, {"model_map": old}, {"model_map": new})

    def history_context(self, obj: CatalogModel) -> dict[str, Any]:
        price_rows, versions = price_history(model_id=obj.public_id)
        own = audit_history(object_type=obj._meta.label_lower, object_ids=[obj.pk])
        rows = sorted([*own, *price_rows], key=lambda row: row.created_at, reverse=True)
        return {"audit_rows": rows, "price_versions": versions, "price_model_id": obj.public_id}
