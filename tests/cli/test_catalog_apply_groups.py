"""The catalog file declares customer groups (their terms versioned like prices) and channel cost prices."""

import pytest
from django.core.management.base import CommandError

from billing.group_models import CustomerGroup, GroupRule
from gateway.models import ChannelModel
from tests.cli import run, run_json
from tests.cli.test_catalog_apply import CATALOG, catalog_file  # noqa: F401  (a fixture)

GROUPS = CATALOG.replace("    models: {gpt-4o: deepseek-chat, mini: deepseek-chat}\n", """\
    models: {gpt-4o: deepseek-chat, mini: deepseek-chat}
    cost:
      gpt-4o: {input: "1.8", cached_input: 0.9, output: "7.2"}
""") + """
groups:
  - slug: resellers
    name: Resellers
    multiplier: 0.85
    models: [gpt-4o, mini]
    overrides:
      mini: {multiplier: "0.5"}
      gpt-4o: {input: 2, cached_input: "1", output: 8, cache_write: "2.5"}
"""


def cost_of(channel: str, model: str) -> tuple:
    return ChannelModel.objects.values_list("cost_input_micros", "cost_cached_input_micros", "cost_output_micros").get(
        channel__name=channel, model__public_id=model
    )


def test_groups_and_costs_are_applied_and_reapplying_changes_nothing(db, catalog_file):  # noqa: F811
    summary = run_json("catalog_apply", catalog_file(GROUPS))
    assert summary["groups"] == {"created": ["resellers"], "updated": [], "unchanged": []}
    assert summary["group_rules"] == {"published": ["resellers"]}
    rule = GroupRule.objects.get(group__slug="resellers")
    assert (rule.multiplier_ppm, rule.allowed_models) == (850_000, ["gpt-4o", "mini"])
    assert rule.overrides == {"mini": {"multiplier_ppm": 500_000}, "gpt-4o": {
        "input_micros": 2_000_000, "cached_input_micros": 1_000_000, "output_micros": 8_000_000,
        "cache_write_micros": 2_500_000}}
    assert cost_of("deepseek-main", "gpt-4o") == (1_800_000, 900_000, 7_200_000)
    assert cost_of("deepseek-main", "mini") == (None, None, None)  # not listed: left as it was

    again = run_json("catalog_apply", catalog_file(GROUPS))
    assert again["groups"]["unchanged"] == ["resellers"] and again["group_rules"]["published"] == []
    assert again["channels"]["unchanged"] == ["deepseek-main", "sim"]


def test_changed_terms_publish_a_new_version_and_keep_the_old(db, catalog_file):  # noqa: F811
    run_json("catalog_apply", catalog_file(GROUPS))
    changed = GROUPS.replace("multiplier: 0.85", "multiplier: 0.8").replace('output: "7.2"', "output: null")
    with pytest.raises(CommandError, match="cost.gpt-4o.output must be a number"):
        run("catalog_apply", catalog_file(changed))
    summary = run_json("catalog_apply", catalog_file(changed.replace(
        '{input: "1.8", cached_input: 0.9, output: null}', "null")))
    assert summary["group_rules"]["published"] == ["resellers"]
    assert list(GroupRule.objects.order_by("effective_from").values_list("multiplier_ppm", flat=True)) == [
        850_000, 800_000]
    assert cost_of("deepseek-main", "gpt-4o") == (None, None, None)


@pytest.mark.parametrize(("broken", "message"), [
    (GROUPS.replace("multiplier: 0.85", "multiplier: -1"), "between 0 and"),
    (GROUPS.replace("models: [gpt-4o, mini]", "models: [gpt-4o, nope]"), "group resellers: model nope is neither"),
    (GROUPS.replace('mini: {multiplier: "0.5"}', "mini: {multiplier: 0.5, input: 1}"), "overrides.mini"),
    (GROUPS.replace("slug: resellers", "slug: 'bad slug'"), "slug is required"),
    (GROUPS.replace("name: Resellers", "colour: red"), "unknown field 'colour'"),
    (GROUPS.replace("      gpt-4o: {input: \"1.8\"", "      sim-only: {input: \"1.8\""), "does not serve this model"),
])
def test_bad_groups_or_costs_are_refused_and_nothing_is_written(db, catalog_file, broken, message):  # noqa: F811
    with pytest.raises(CommandError, match=message):
        run("catalog_apply", catalog_file(broken))
    assert not CustomerGroup.objects.exclude(slug="default").exists() and not GroupRule.objects.exists()
    assert not ChannelModel.objects.exists()
