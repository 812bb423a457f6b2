"""Writes of customer groups: create one, publish a new version of its terms. Sync and atomic."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from .group_models import CustomerGroup, GroupRule
from .group_pricing import MultiplierError, parse_multiplier
from .group_selectors import rule_current
from .money import AmountError, parse_amount

_FIXED_PARTS = ("input", "cached_input", "output")


class GroupTermsError(ValueError):
    """The terms are invalid; nothing was written."""


def group_create(*, slug: str, name: str = "", description: str = "") -> CustomerGroup:
    return CustomerGroup.objects.create(slug=slug, name=name, description=description)


def _amount(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GroupTermsError(f"{where} must be a number")
    try:
        return parse_amount(str(value))  # str() first: a YAML 2.5 must become Decimal("2.5")
    except AmountError as exc:
        raise GroupTermsError(f"{where} {exc}") from None


def override_parse(model_id: str, value: Any) -> dict[str, int | None]:
    """One per-model override as an operator writes it (currency units) → its stored form (micros, ppm):
    {"multiplier": "0.5"} or a fixed price {"input": 1, "cached_input": 0.1, "output": 4, "cache_write": 1.25}."""
    where = f"overrides.{model_id}"
    if not isinstance(value, dict):
        raise GroupTermsError(f"{where} must be a mapping: multiplier, or input, cached_input, output")
    if set(value) == {"multiplier"}:
        try:
            return {"multiplier_ppm": parse_multiplier(value["multiplier"])}
        except MultiplierError as exc:
            raise GroupTermsError(f"{where}.multiplier: {exc}") from None
    if set(value) - {"cache_write"} != set(_FIXED_PARTS):
        raise GroupTermsError(f"{where} must have exactly multiplier, or input, cached_input, output (and cache_write)")
    stored: dict[str, int | None] = {f"{part}_micros": _amount(value[part], f"{where}.{part}") for part in _FIXED_PARTS}
    write = value.get("cache_write")
    stored["cache_write_micros"] = None if write is None else _amount(write, f"{where}.cache_write")
    return stored


def overrides_parse(value: Any) -> dict[str, dict[str, int | None]]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise GroupTermsError("overrides must be a mapping of model id to its override")
    return {str(model_id): override_parse(str(model_id), item) for model_id, item in value.items()}


def allowed_parse(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise GroupTermsError("models must be a list of public model ids (empty: every model)")
    return sorted(set(value))


@transaction.atomic
def group_rule_publish(
    *,
    group: CustomerGroup,
    multiplier_ppm: int,
    allowed_models: list[str] | None = None,
    overrides: dict[str, dict[str, int | None]] | None = None,
    effective_from=None,
    actor: str = "",
) -> tuple[GroupRule, bool]:
    """Add a rule version unless the current one already says the same. Returns (rule, created).

    `overrides` is in stored form (override_parse). Requests admitted before `effective_from` keep the
    rule they were admitted with; the hot path sees the new one within HARNMODEL_CATALOG_CACHE_SECONDS."""
    if multiplier_ppm < 0:
        raise GroupTermsError("a multiplier cannot be negative")
    CustomerGroup.objects.select_for_update().filter(pk=group.pk).first()  # one publisher per group at a time
    allowed = sorted(set(allowed_models or ()))
    wanted = (multiplier_ppm, allowed, dict(overrides or {}))
    current = rule_current(group_id=group.pk)
    if current is not None and (current.multiplier_ppm, sorted(current.allowed_models or ()),
                                current.overrides or {}) == wanted:
        return current, False
    rule = GroupRule.objects.create(
        group=group,
        multiplier_ppm=multiplier_ppm,
        allowed_models=allowed,
        overrides=wanted[2],
        effective_from=effective_from or timezone.now(),
        created_by=actor[:150],
    )
    return rule, True
