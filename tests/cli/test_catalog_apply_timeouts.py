"""catalog_apply sets a channel's own timeouts (connect, first byte, idle); null means the platform default."""

import pytest
from django.core.management.base import CommandError

from gateway.models import Channel
from tests.cli import run, run_json
from tests.cli.test_catalog_apply import CATALOG, catalog_file  # noqa: F401  (fixture)

WITH_TIMEOUTS = CATALOG.replace(
    "    priority: 10\n",
    "    priority: 10\n    connect_timeout: 5\n    first_byte_timeout: 2.5\n    idle_timeout: 60\n",
)


def timeouts(name: str) -> tuple:
    return Channel.objects.values_list("connect_timeout", "first_byte_timeout", "idle_timeout").get(name=name)


def test_timeouts_are_applied_and_idempotent(db, catalog_file):  # noqa: F811
    path = catalog_file(WITH_TIMEOUTS)
    run_json("catalog_apply", path)
    assert timeouts("deepseek-main") == (5.0, 2.5, 60.0)
    assert timeouts("sim") == (None, None, None)  # not given: the platform defaults
    assert run_json("catalog_apply", path)["channels"]["unchanged"] == ["deepseek-main", "sim"]


def test_a_changed_timeout_updates_and_null_restores_the_default(db, catalog_file):  # noqa: F811
    run_json("catalog_apply", catalog_file(WITH_TIMEOUTS))
    changed = WITH_TIMEOUTS.replace("idle_timeout: 60", "idle_timeout: null").replace(
        "connect_timeout: 5", "connect_timeout: 3"
    )
    summary = run_json("catalog_apply", catalog_file(changed))
    assert summary["channels"]["updated"] == ["deepseek-main"]
    assert timeouts("deepseek-main") == (3.0, 2.5, None)
    # Omitted: left as stored.
    run_json("catalog_apply", catalog_file(CATALOG))
    assert timeouts("deepseek-main") == (3.0, 2.5, None)


@pytest.mark.parametrize("value", ["0", "-1", "yes", '"5"', "7200"])
def test_bad_timeouts_are_refused_and_nothing_is_written(db, catalog_file, value):  # noqa: F811
    with pytest.raises(CommandError, match="idle_timeout must be seconds"):
        run("catalog_apply", catalog_file(WITH_TIMEOUTS.replace("idle_timeout: 60", f"idle_timeout: {value}")))
    assert not Channel.objects.exists()
