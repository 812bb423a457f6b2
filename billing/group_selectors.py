"""Reads of customer groups: the terms a group has now (for the hot path's cache) and the default group."""

from django.db.models import QuerySet
from django.utils import timezone

from .group_models import DEFAULT_GROUP_SLUG, CustomerGroup, GroupRule
from .group_pricing import IDENTITY, FixedPrice, GroupTerms, group_price
from .models import Price
from .selectors import price_snapshot


def default_group_id() -> int:
    """The group new accounts join. Created by a migration; made again here if a test flush removed it."""
    group, _ = CustomerGroup.objects.get_or_create(slug=DEFAULT_GROUP_SLUG, defaults={"name": "Default"})
    return group.pk


def rule_current(*, group_id: int, at=None) -> GroupRule | None:
    """The newest rule version already in effect (`at` defaults to now)."""
    return (
        GroupRule.objects.filter(group_id=group_id, effective_from__lte=at or timezone.now())
        .order_by("-effective_from")
        .first()
    )


def terms_of(rule: GroupRule | None, group_id: int | None = None) -> GroupTerms:
    """A stored rule as the pure pricing function reads it. No rule: ×1, every model."""
    if rule is None:
        return GroupTerms(group_id=group_id, rule_id=None) if group_id is not None else IDENTITY
    multipliers, fixed = [], []
    for model_id, override in sorted((rule.overrides or {}).items()):
        if "multiplier_ppm" in override:
            multipliers.append((model_id, int(override["multiplier_ppm"])))
        else:
            fixed.append((model_id, FixedPrice(
                input_micros=int(override["input_micros"]),
                cached_input_micros=int(override["cached_input_micros"]),
                output_micros=int(override["output_micros"]),
                cache_write_micros=override.get("cache_write_micros"),
            )))
    return GroupTerms(
        group_id=rule.group_id,
        rule_id=rule.pk,
        multiplier_ppm=rule.multiplier_ppm,
        allowed_models=frozenset(rule.allowed_models or ()),
        multipliers=tuple(multipliers),
        fixed=tuple(fixed),
    )


def group_terms(group_id: int | None) -> GroupTerms:
    """What the hot path caches per group (gateway/relay/group_routes.py)."""
    if group_id is None:
        return IDENTITY
    return terms_of(rule_current(group_id=group_id), group_id)


def groups_all() -> QuerySet[CustomerGroup]:
    return CustomerGroup.objects.order_by("slug")



def price_shown(price: Price, terms: GroupTerms, model_id: str) -> dict:
    """A price version as a member of the group pays it, for the portal and the management API."""
    priced = group_price(price_snapshot(price), terms, model_id)
    return {
        "input_micros": priced.input_micros,
        "cached_input_micros": priced.cached_input_micros,
        "output_micros": priced.output_micros,
        "cache_write_micros": priced.cache_write_micros,
        "tool_call_micros": dict(priced.tool_call_micros),
        "effective_from": price.effective_from,
        "multiplier_ppm": None if terms.rule_id is None or terms.fixed_for(model_id) else terms.multiplier_for(model_id),
    }
