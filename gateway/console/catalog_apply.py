"""Apply a declarative catalog (models, their prices, channels) to the database, idempotently.

The file is the desired state of what it names; anything it does not name is left alone. Optional
fields that a file omits are left as stored (or take the model default on create), except a
channel's `models`, which, when given, becomes exactly the channel's model map. Customer groups
(`groups:`) are billing/group_catalog.py's, channel cost prices (`cost:`) catalog_cost.py's.
"""

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from billing.group_catalog import GroupSpec, apply_group, parse_groups
from billing.money import AmountError, parse_amount
from billing.services import price_publish
from gateway.console.catalog_cost import Cost, apply_cost, check_mapped, parse_cost
from gateway.models import CatalogModel, Channel, ChannelModel
from gateway.pool.store import secrets_of, set_only_secret
from gateway.protocols.registry import ADAPTERS
from gateway.relay import field_policy


class CatalogError(ValueError):
    """The catalog is invalid; nothing was written."""


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(data: Any, environ: Mapping[str, str]) -> Any:
    """Replace `${NAME}` in every string value. Names what is missing, never what is set."""
    missing: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            missing.add(name)
            return ""
        return environ[name]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str):
            return _ENV_REF.sub(substitute, node)
        return node

    expanded = walk(data)
    if missing:
        raise CatalogError(f"environment variable not set: {', '.join(sorted(missing))}")
    return expanded


def _is_int(value: Any) -> bool:
    # YAML booleans are Python ints; `weight: yes` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(max_length: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and len(value) <= max_length


def _is_timeout(value: Any) -> bool:
    # Seconds, or null for the platform default (HARNMODEL_*_TIMEOUT).
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600)


def _is_url(value: Any) -> bool:
    return _is_text(500)(value) and (not value or value.startswith(("http://", "https://")))


# Optional fields: name → (accepts the value?, what it must be).
FieldRules = dict[str, tuple[Callable[[Any], bool], str]]
_MODEL_FIELDS: FieldRules = {
    "display_name": (_is_text(200), "a string of at most 200 characters"),
    "description": (_is_text(10_000), "a string"),
    "default_max_output_tokens": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "context_window": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "enabled": (lambda v: isinstance(v, bool), "true or false"),
    "routing": (lambda v: v in ("weighted", "adaptive"), "weighted or adaptive"),
}
_CHANNEL_FIELDS: FieldRules = {
    "base_url": (_is_url, "an http:// or https:// URL of at most 500 characters"),
    "priority": (_is_int, "an integer"),
    "weight": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "enabled": (lambda v: isinstance(v, bool), "true or false"),
    "options": (lambda v: isinstance(v, dict), "a mapping"),
    "connect_timeout": (_is_timeout, "seconds (0 < s <= 3600), or null for the platform default"),
    "first_byte_timeout": (_is_timeout, "seconds (0 < s <= 3600), or null for the platform default"),
    "idle_timeout": (_is_timeout, "seconds (0 < s <= 3600), or null for the platform default"),
}
_PRICE_PARTS = ("input", "cached_input", "output")


@dataclass(frozen=True)
class ModelSpec:
    public_id: str
    fields: dict[str, Any]
    price: tuple[int, int, int] | None  # micros per 1M tokens: input, cached input, output
    tool_prices: dict[str, int] | None = None  # micros per hosted-tool call, by kind (price.tool_calls)
    cache_write: int | None = None  # micros per 1M cache-write tokens (price.cache_write); None: the input price


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    fields: dict[str, Any]
    secret: str | None  # None: the file does not manage the secret
    model_map: dict[str, str] | None  # public id → upstream name ("" = same); None: not managed
    cost: dict[str, Cost] | None = None  # public id → what the channel charges us (catalog_cost.py)


def _fields(item: dict, rules: FieldRules, where: str, errors: list[str]) -> dict[str, Any]:
    for name, (accepts, what) in rules.items():
        if name in item and not accepts(item[name]):
            errors.append(f"{where}: {name} must be {what}")
    return {name: item[name] for name in rules if name in item}


def _identifier(item: dict, key: str, where: str, errors: list[str]) -> str | None:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip() or value != value.strip() or len(value) > 128:
        errors.append(f"{where}: {key} is required (a non-empty string without surrounding spaces, ≤128 characters)")
        return None
    return value


def _tool_prices(value: Any, where: str, errors: list[str]) -> dict[str, int] | None:
    """`price.tool_calls`: {kind: amount per call in currency units}; see gateway/relay/field_policy.py."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 50:
        errors.append(f"{where}: price.tool_calls must be a mapping of hosted tool kind to a price per call")
        return None
    prices = {}
    for kind, amount in value.items():
        if not isinstance(kind, str) or field_policy.tool_kind(kind) != kind or kind in field_policy.CLIENT_TOOLS:
            errors.append(f"{where}: price.tool_calls: {kind!r} is not a hosted tool kind (e.g. web_search)")
            continue
        try:
            if isinstance(amount, bool) or not isinstance(amount, int | float | str):
                raise AmountError("must be a number")
            prices[kind] = parse_amount(str(amount))
        except AmountError as exc:
            errors.append(f"{where}: price.tool_calls.{kind} {exc}")
    return prices


def _price(value: Any, where: str, errors: list[str]) -> tuple[int, int, int] | None:
    if not isinstance(value, dict) or set(value) - {"tool_calls", "cache_write"} != set(_PRICE_PARTS):
        errors.append(f"{where}: price must be a mapping with exactly {', '.join(_PRICE_PARTS)} "
                      "(and tool_calls, cache_write)")
        return None
    micros = []
    for part in _PRICE_PARTS:
        amount = value[part]
        if isinstance(amount, bool) or not isinstance(amount, int | float | str):
            errors.append(f"{where}: price.{part} must be a number")
            continue
        try:
            # str() first: a YAML float like 2.5 must become Decimal("2.5"), never float arithmetic.
            micros.append(parse_amount(str(amount)))
        except AmountError as exc:
            errors.append(f"{where}: price.{part} {exc}")
    return (micros[0], micros[1], micros[2]) if len(micros) == 3 else None


def _cache_write(value: Any, where: str, errors: list[str]) -> int | None:
    """`price.cache_write`: per 1M prompt-cache write tokens (Anthropic bills 1.25× input); absent: the input price."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.append(f"{where}: price.cache_write must be a number")
        return None
    try:
        return parse_amount(str(value))
    except AmountError as exc:
        errors.append(f"{where}: price.cache_write {exc}")
        return None


def _model_map(value: Any, where: str, errors: list[str]) -> dict[str, str] | None:
    pairs: list[tuple[Any, Any]]
    if isinstance(value, list):
        pairs = [(item, None) for item in value]
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        errors.append(f"{where}: models must be a mapping (public id: upstream name) or a list of public ids")
        return None
    wanted: dict[str, str] = {}
    for public_id, upstream in pairs:
        if not isinstance(public_id, str) or not public_id:
            errors.append(f"{where}: models has an entry that is not a model id")
        elif public_id in wanted:
            errors.append(f"{where}: models lists {public_id} twice")
        elif upstream is not None and (not isinstance(upstream, str) or len(upstream) > 200):
            errors.append(f"{where}: models.{public_id} upstream name must be a string (≤200 characters)")
        else:
            # Stored empty when it equals the public id, so both spellings compare equal on re-apply.
            wanted[public_id] = "" if upstream in (None, public_id) else upstream
    return wanted


def _entries(data: dict, key: str, errors: list[str]) -> list[tuple[str, dict]]:
    items = data.get(key) or []
    if not isinstance(items, list):
        errors.append(f"{key} must be a list")
        return []
    entries = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            entries.append((f"{key}[{index}]", item))
        else:
            errors.append(f"{key}[{index}] must be a mapping")
    return entries


def _unknown_keys(item: dict, allowed: set[str], where: str, errors: list[str]) -> None:
    # A typo like `prioirty` must fail loudly rather than silently leave the old value.
    for key in sorted(set(item) - allowed, key=str):
        errors.append(f"{where}: unknown field {key!r}")


def parse_catalog(data: Any) -> tuple[list[ModelSpec], list[ChannelSpec], list[GroupSpec]]:
    """Validate the whole catalog (reading the DB for referenced models) before anything is written."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogError("catalog must be a mapping with 'models', 'channels' and/or 'groups'")
    errors: list[str] = []
    _unknown_keys(data, {"models", "channels", "groups"}, "catalog", errors)

    models: list[ModelSpec] = []
    for where, item in _entries(data, "models", errors):
        _unknown_keys(item, {"id", "price", *_MODEL_FIELDS}, where, errors)
        public_id = _identifier(item, "id", where, errors)
        where = f"{where} ({public_id})" if public_id else where
        fields = _fields(item, _MODEL_FIELDS, where, errors)
        price = _price(item["price"], where, errors) if "price" in item else None
        tools = _tool_prices(item["price"].get("tool_calls"), where, errors) if price is not None else None
        if public_id is None:
            continue
        if any(spec.public_id == public_id for spec in models):
            errors.append(f"{where}: model {public_id} is listed twice")
        write = _cache_write(item["price"].get("cache_write"), where, errors) if price is not None else None
        models.append(ModelSpec(public_id=public_id, fields=fields, price=price, tool_prices=tools, cache_write=write))

    channels: list[ChannelSpec] = []
    for where, item in _entries(data, "channels", errors):
        _unknown_keys(item, {"name", "provider", "api_key", "models", "cost", *_CHANNEL_FIELDS}, where, errors)
        name = _identifier(item, "name", where, errors)
        where = f"{where} ({name})" if name else where
        fields = _fields(item, _CHANNEL_FIELDS, where, errors)
        errors.extend(f"{where}: options.{problem}" for problem in field_policy.validate_options(fields.get("options")))
        provider = item.get("provider")
        if provider is None:
            errors.append(f"{where}: provider is required; known: {', '.join(sorted(ADAPTERS))}")
        elif not isinstance(provider, str) or provider not in ADAPTERS:
            errors.append(f"{where}: unknown provider {provider!r}; known: {', '.join(sorted(ADAPTERS))}")
        fields["provider"] = provider
        secret = item.get("api_key")
        if secret is not None and not isinstance(secret, str):
            errors.append(f"{where}: api_key must be a string (quote it)")
        model_map = _model_map(item["models"], where, errors) if "models" in item else None
        cost = parse_cost(item["cost"], where, errors) if "cost" in item else None
        if name is None:
            continue
        if cost:
            check_mapped(name, cost, model_map, errors)
        if any(spec.name == name for spec in channels):
            errors.append(f"{where}: channel {name} is listed twice")
        channels.append(ChannelSpec(name=name, fields=fields, secret=secret, model_map=model_map, cost=cost))
    groups = parse_groups(data.get("groups"), errors)

    referenced = {public_id for spec in channels for public_id in spec.model_map or {}}
    referenced |= {public_id for spec in groups for public_id in spec.models_named}
    known = {spec.public_id for spec in models}
    known |= set(CatalogModel.objects.filter(public_id__in=referenced - known).values_list("public_id", flat=True))
    for spec in channels:
        for public_id in spec.model_map or {}:
            if public_id not in known:
                errors.append(
                    f"channel {spec.name}: model {public_id} is neither in the catalog file nor in the database"
                )
    for group in groups:
        for public_id in sorted(group.models_named - known):
            errors.append(f"group {group.slug}: model {public_id} is neither in the catalog file nor in the database")
    if errors:
        raise CatalogError("; ".join(errors))
    return models, channels, groups


def _changes(instance: Any, fields: dict[str, Any]) -> list[str]:
    changed = [name for name, value in fields.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, fields[name])
    return changed


def _apply_model(spec: ModelSpec, summary: dict) -> None:
    model = CatalogModel.objects.filter(public_id=spec.public_id).first()
    if model is None:
        CatalogModel.objects.create(public_id=spec.public_id, **spec.fields)
        summary["models"]["created"].append(spec.public_id)
    elif changed := _changes(model, spec.fields):
        model.save(update_fields=[*changed, "updated_at"])
        summary["models"]["updated"].append(spec.public_id)
    else:
        summary["models"]["unchanged"].append(spec.public_id)
    if spec.price is not None:
        input_micros, cached_input_micros, output_micros = spec.price
        _, published = price_publish(
            model_id=spec.public_id,
            input_micros=input_micros,
            cached_input_micros=cached_input_micros,
            output_micros=output_micros,
            tool_call_micros=spec.tool_prices,
            cache_write_micros=spec.cache_write,
        )
        if published:
            summary["prices"]["published"].append(spec.public_id)


def _pool_is(channel: Channel, secret: str) -> bool:
    """Does the channel's pool hold exactly this one secret (none for "")? Unreadable keys never match, so
    re-applying the file repairs them."""
    held = list(secrets_of(channel).values()) if channel.pk else []
    if not secret:
        return not held and not (channel.pk and channel.credentials.exists())
    return len(held) == 1 and channel.credentials.count() == 1 and hmac.compare_digest(held[0].encode(), secret.encode())


def _sync_model_map(channel: Channel, wanted: dict[str, str]) -> bool:
    current = {cm.model.public_id: cm for cm in channel.model_maps.select_related("model")}
    changed = False
    for public_id, upstream in wanted.items():
        mapping = current.pop(public_id, None)
        if mapping is None:
            model = CatalogModel.objects.get(public_id=public_id)
            ChannelModel.objects.create(channel=channel, model=model, upstream_name=upstream)
            changed = True
        elif (mapping.upstream_name or public_id) != (upstream or public_id):
            mapping.upstream_name = upstream
            mapping.save(update_fields=["upstream_name"])
            changed = True
    for mapping in current.values():
        mapping.delete()
        changed = True
    return changed


def _apply_channel(spec: ChannelSpec, summary: dict) -> None:
    channel = Channel.objects.filter(name=spec.name).first()
    created = channel is None
    if channel is None:
        channel = Channel(name=spec.name)
    changed = _changes(channel, spec.fields)
    pool_changed = spec.secret is not None and not _pool_is(channel, spec.secret)
    if created:
        channel.save()
    elif changed or pool_changed:
        channel.save(update_fields=[*changed, "updated_at"])
    if pool_changed:  # a file's one `api_key` is the whole pool: keys pasted in the console are replaced
        set_only_secret(channel, spec.secret or "")
        changed.append("credentials")
    map_changed = spec.model_map is not None and _sync_model_map(channel, spec.model_map)
    map_changed = bool(spec.cost and apply_cost(channel, spec.cost)) or map_changed
    outcome = "created" if created else "updated" if changed or map_changed else "unchanged"
    summary["channels"][outcome].append(spec.name)


def catalog_apply(*, data: dict, dry_run: bool = False) -> dict:
    """Validate all, then write all in one transaction. Returns what was created/updated/unchanged."""
    models, channels, groups = parse_catalog(data)
    summary: dict[str, dict[str, list[str]]] = {
        "models": {"created": [], "updated": [], "unchanged": []},
        "prices": {"published": []},
        "channels": {"created": [], "updated": [], "unchanged": []},
    }
    if groups:  # reported only by files that have them
        summary |= {"groups": {"created": [], "updated": [], "unchanged": []}, "group_rules": {"published": []}}
    with transaction.atomic():
        for model_spec in models:
            _apply_model(model_spec, summary)
        for channel_spec in channels:
            _apply_channel(channel_spec, summary)
        for group_spec in groups:
            apply_group(group_spec, summary)
        if dry_run:
            transaction.set_rollback(True)
    return summary
