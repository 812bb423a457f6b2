"""The catalog file's `groups:` section: customer groups and their terms, applied idempotently.

    groups:
      - slug: resellers
        name: Resellers
        multiplier: "0.85"          # on every model's list price
        models: [gpt-4o, claude]    # optional: the models it may use (absent or empty: every model)
        overrides:                  # optional, per model: a multiplier or a fixed price per 1M tokens
          gpt-4o: {multiplier: "0.5"}
          claude: {input: 1, cached_input: 0.1, output: 4}

A group listed gets exactly these terms: when they differ from its current rule a new rule version is
published (the old one stays, for the usage records charged under it). Groups not listed are left alone.
"""

import re
from dataclasses import dataclass
from typing import Any

from .group_models import CustomerGroup
from .group_pricing import MultiplierError, parse_multiplier
from .group_services import GroupTermsError, allowed_parse, group_rule_publish, overrides_parse

_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
_KEYS = {"slug", "name", "description", "multiplier", "models", "overrides"}


@dataclass(frozen=True)
class GroupSpec:
    slug: str
    fields: dict[str, str]  # name, description: when given
    multiplier_ppm: int
    allowed_models: list[str]
    overrides: dict[str, dict[str, int | None]]

    @property
    def models_named(self) -> set[str]:
        return set(self.allowed_models) | set(self.overrides)


def parse_groups(value: Any, errors: list[str]) -> list[GroupSpec]:
    """Validate the section; every problem goes to `errors` (nothing is written here)."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("groups must be a list")
        return []
    specs: list[GroupSpec] = []
    for index, item in enumerate(value):
        where = f"groups[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where} must be a mapping")
            continue
        for key in sorted(set(item) - _KEYS, key=str):
            errors.append(f"{where}: unknown field {key!r}")
        slug = item.get("slug")
        if not isinstance(slug, str) or not _SLUG.match(slug):
            errors.append(f"{where}: slug is required (letters, digits, - and _, at most 64)")
            continue
        where = f"{where} ({slug})"
        fields = {}
        for name, limit in (("name", 200), ("description", 500)):
            if name in item:
                if isinstance(item[name], str) and len(item[name]) <= limit:
                    fields[name] = item[name]
                else:
                    errors.append(f"{where}: {name} must be a string of at most {limit} characters")
        try:
            ppm = parse_multiplier(item.get("multiplier", "1"))
            allowed = allowed_parse(item.get("models"))
            overrides = overrides_parse(item.get("overrides"))
        except (MultiplierError, GroupTermsError) as exc:
            errors.append(f"{where}: {exc}")
            continue
        if any(spec.slug == slug for spec in specs):
            errors.append(f"{where}: group {slug} is listed twice")
            continue
        specs.append(GroupSpec(slug=slug, fields=fields, multiplier_ppm=ppm, allowed_models=allowed,
                               overrides=overrides))
    return specs


def apply_group(spec: GroupSpec, summary: dict) -> None:
    """Inside the catalog's transaction: the group, then its terms."""
    group = CustomerGroup.objects.filter(slug=spec.slug).first()
    if group is None:
        group = CustomerGroup.objects.create(slug=spec.slug, **spec.fields)
        summary["groups"]["created"].append(spec.slug)
    elif changed := [name for name, value in spec.fields.items() if getattr(group, name) != value]:
        for name in changed:
            setattr(group, name, spec.fields[name])
        group.save(update_fields=changed)
        summary["groups"]["updated"].append(spec.slug)
    else:
        summary["groups"]["unchanged"].append(spec.slug)
    _, published = group_rule_publish(group=group, multiplier_ppm=spec.multiplier_ppm,
                                      allowed_models=spec.allowed_models, overrides=spec.overrides,
                                      actor="catalog_apply")
    if published:
        summary["group_rules"]["published"].append(spec.slug)
