import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management.base import CommandError

from billing.models import Price
from gateway.models import CatalogModel, Channel, ChannelModel
from gateway.pool.store import secrets_of
from tests.cli import run, run_json
from tests.factories import make_channel, make_model

SECRET = "sk-upstream-0123456789abcdef"

CATALOG = """
models:
  - id: gpt-4o
    display_name: GPT-4o
    default_max_output_tokens: 4096
    context_window: 128000
    price: {input: "2.5", cached_input: "1.25", output: "10"}
  - id: mini
    price: {input: 0.15, cached_input: 0.075, output: 0.6}
channels:
  - name: deepseek-main
    provider: openai_chat
    base_url: https://api.example.com/v1
    api_key: ${DEEPSEEK_API_KEY}
    priority: 10
    weight: 2
    options: {}
    models: {gpt-4o: deepseek-chat, mini: deepseek-chat}
  - name: sim
    provider: simulator
    options: {latency_ms: 20, token_delay_ms: 15}
    models: [gpt-4o]
"""


@pytest.fixture
def catalog_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)

    def write(text: str = CATALOG) -> str:
        path = tmp_path / "catalog.yaml"
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


def db_state() -> dict:
    """Every row the catalog touches, timestamps and ciphertext included: equal means nothing was written."""
    return {
        "models": list(CatalogModel.objects.order_by("public_id").values()),
        "prices": list(Price.objects.order_by("id").values()),
        "channels": list(Channel.objects.order_by("name").values()),
        "maps": list(ChannelModel.objects.order_by("id").values()),
    }


def upstream_map(channel_name: str) -> dict[str, str]:
    return dict(
        ChannelModel.objects.filter(channel__name=channel_name).values_list("model__public_id", "upstream_name")
    )


def test_catalog_apply_creates_models_prices_channels_and_maps(db, catalog_file):
    summary = run_json("catalog_apply", catalog_file())

    assert summary == {
        "models": {"created": ["gpt-4o", "mini"], "updated": [], "unchanged": []},
        "prices": {"published": ["gpt-4o", "mini"]},
        "channels": {"created": ["deepseek-main", "sim"], "updated": [], "unchanged": []},
    }
    model = CatalogModel.objects.get(public_id="gpt-4o")
    assert (model.display_name, model.default_max_output_tokens, model.context_window) == ("GPT-4o", 4096, 128000)
    price = Price.objects.get(model_id="gpt-4o")
    assert (price.input_micros, price.cached_input_micros, price.output_micros) == (2_500_000, 1_250_000, 10_000_000)
    channel = Channel.objects.get(name="deepseek-main")
    assert (channel.provider, channel.base_url, channel.priority, channel.weight) == (
        "openai_chat",
        "https://api.example.com/v1",
        10,
        2,
    )
    assert upstream_map("deepseek-main") == {"gpt-4o": "deepseek-chat", "mini": "deepseek-chat"}
    assert upstream_map("sim") == {"gpt-4o": ""}
    assert Channel.objects.get(name="sim").options == {"latency_ms": 20, "token_delay_ms": 15}


def test_catalog_apply_twice_changes_nothing(db, catalog_file):
    path = catalog_file()
    run("catalog_apply", path)
    before = db_state()

    summary = run_json("catalog_apply", path)

    assert db_state() == before
    assert summary == {
        "models": {"created": [], "updated": [], "unchanged": ["gpt-4o", "mini"]},
        "prices": {"published": []},
        "channels": {"created": [], "updated": [], "unchanged": ["deepseek-main", "sim"]},
    }


def test_catalog_apply_yaml_floats_are_exact_prices(db, catalog_file):
    run("catalog_apply", catalog_file())

    price = Price.objects.get(model_id="mini")
    assert (price.input_micros, price.cached_input_micros, price.output_micros) == (150_000, 75_000, 600_000)


def test_catalog_apply_expands_env_and_never_prints_the_secret(db, catalog_file):
    out = run("catalog_apply", catalog_file())

    channel = Channel.objects.get(name="deepseek-main")
    assert list(secrets_of(channel).values()) == [SECRET]
    assert SECRET not in channel.credentials.get().secret_encrypted
    assert SECRET not in out and SECRET[-8:] not in out


def test_catalog_apply_missing_env_var_names_it_and_writes_nothing(db, catalog_file, monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY")

    with pytest.raises(CommandError, match="DEEPSEEK_API_KEY"):
        run("catalog_apply", catalog_file())

    assert db_state() == {"models": [], "prices": [], "channels": [], "maps": []}


def test_catalog_apply_changed_secret_is_stored_and_reported(db, catalog_file, monkeypatch):
    path = catalog_file()
    run("catalog_apply", path)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-rotated-upstream-key-9999")

    summary = run_json("catalog_apply", path)

    assert summary["channels"]["updated"] == ["deepseek-main"]
    channel = Channel.objects.get(name="deepseek-main")
    assert list(secrets_of(channel).values()) == ["sk-rotated-upstream-key-9999"]
    assert channel.secret_hint == "…9999"


def test_catalog_apply_changed_price_publishes_a_new_version(db, catalog_file):
    run("catalog_apply", catalog_file())

    summary = run_json("catalog_apply", catalog_file(CATALOG.replace('output: "10"', 'output: "12"')))

    assert summary["prices"]["published"] == ["gpt-4o"]
    assert summary["models"]["unchanged"] == ["gpt-4o", "mini"]
    assert list(
        Price.objects.filter(model_id="gpt-4o").order_by("effective_from").values_list("output_micros", flat=True)
    ) == [
        10_000_000,
        12_000_000,
    ]


def test_catalog_apply_makes_the_channel_map_exactly_the_file(db, catalog_file):
    run("catalog_apply", catalog_file())
    changed = CATALOG.replace("models: {gpt-4o: deepseek-chat, mini: deepseek-chat}", "models: {gpt-4o: deepseek-v3}")
    changed = changed.replace("models: [gpt-4o]", "models: [gpt-4o, mini]")

    summary = run_json("catalog_apply", catalog_file(changed))

    assert summary["channels"] == {"created": [], "updated": ["deepseek-main", "sim"], "unchanged": []}
    assert upstream_map("deepseek-main") == {"gpt-4o": "deepseek-v3"}
    assert upstream_map("sim") == {"gpt-4o": "", "mini": ""}


def test_catalog_apply_updates_changed_fields_only(db, catalog_file):
    run("catalog_apply", catalog_file())
    changed = CATALOG.replace("display_name: GPT-4o", "display_name: GPT-4o (2024)").replace(
        "priority: 10", "priority: 5"
    )

    summary = run_json("catalog_apply", catalog_file(changed))

    assert summary["models"] == {"created": [], "updated": ["gpt-4o"], "unchanged": ["mini"]}
    assert summary["channels"] == {"created": [], "updated": ["deepseek-main"], "unchanged": ["sim"]}
    assert CatalogModel.objects.get(public_id="gpt-4o").display_name == "GPT-4o (2024)"
    assert Channel.objects.get(name="deepseek-main").priority == 5


def test_catalog_apply_leaves_unlisted_entities_and_omitted_fields_alone(db, catalog_file):
    make_model("claude", output_price="15")
    make_channel("legacy", models={"claude": ""})
    run("catalog_apply", catalog_file())
    CatalogModel.objects.filter(public_id="mini").update(description="kept", context_window=64000)

    run("catalog_apply", catalog_file())

    assert Channel.objects.filter(name="legacy").exists()
    assert upstream_map("legacy") == {"claude": ""}
    assert Price.objects.filter(model_id="claude").count() == 1
    mini = CatalogModel.objects.get(public_id="mini")
    assert (mini.description, mini.context_window) == ("kept", 64000)


def test_catalog_apply_channel_may_reference_a_model_already_in_the_database(db, catalog_file):
    make_model("claude")

    summary = run_json(
        "catalog_apply", catalog_file("channels:\n  - {name: c, provider: simulator, models: [claude]}\n")
    )

    assert summary["channels"]["created"] == ["c"]
    assert upstream_map("c") == {"claude": ""}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (CATALOG.replace("provider: openai_chat", "provider: openai_chatt"), "unknown provider 'openai_chatt'"),
        (CATALOG.replace("models: [gpt-4o]", "models: [gpt-5]"), "model gpt-5 is neither"),
        (CATALOG.replace('input: "2.5"', 'input: "2.5x"'), "price.input"),
        (CATALOG.replace('input: "2.5"', 'input: "-1"'), "negative amount"),
        (CATALOG.replace('input: "2.5"', 'input: "0.0000001"'), "more than six decimal places"),
        (CATALOG.replace(', output: "10"', ""), "price must be a mapping with exactly"),
        (CATALOG.replace("name: sim", "display: sim"), "name is required"),
        (CATALOG.replace("  - id: mini", "  - id: ''"), "id is required"),
        (CATALOG.replace("priority: 10", "prioirty: 10"), "unknown field 'prioirty'"),
        (CATALOG.replace("weight: 2", "weight: yes"), "weight must be a non-negative integer"),
        (CATALOG.replace("name: sim", "name: deepseek-main"), "listed twice"),
        (CATALOG.replace("https://api.example.com/v1", "api.example.com"), "base_url must be an http"),
    ],
)
def test_catalog_apply_rejects_invalid_catalog_and_writes_nothing(db, catalog_file, broken, message):
    with pytest.raises(CommandError, match=message) as raised:
        run("catalog_apply", catalog_file(broken))

    assert "\n" not in str(raised.value)
    assert db_state() == {"models": [], "prices": [], "channels": [], "maps": []}


def test_catalog_apply_invalid_yaml_reports_position_not_content(db, catalog_file):
    path = catalog_file("channels:\n  - name: x\n    api_key: sk-literal-secret: [\n")

    with pytest.raises(CommandError, match="not valid YAML at line") as raised:
        run("catalog_apply", path)

    assert "sk-literal-secret" not in str(raised.value)


def test_catalog_apply_missing_file_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("catalog_apply", str(tmp_path / "nope.yaml"))


def test_catalog_apply_dry_run_reports_but_writes_nothing(db, catalog_file):
    summary = run_json("catalog_apply", catalog_file(), dry_run=True)

    assert summary["models"]["created"] == ["gpt-4o", "mini"]
    assert summary["dry_run"] is True
    assert db_state() == {"models": [], "prices": [], "channels": [], "maps": []}


def test_catalog_apply_example_file_applies_twice_cleanly(db):
    path = str(Path(settings.BASE_DIR) / "catalog.example.yaml")

    first = run_json("catalog_apply", path)
    second = run_json("catalog_apply", path)

    assert first["models"]["created"] == ["gpt-4o"] and first["channels"]["created"] == ["simulator"]
    assert second["models"]["unchanged"] == ["gpt-4o"] and second["channels"]["unchanged"] == ["simulator"]
    assert Channel.objects.get(name="simulator").options == {"latency_ms": 20, "token_delay_ms": 15}
