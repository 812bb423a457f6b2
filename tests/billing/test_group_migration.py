"""The migrations put every existing account into the default customer group."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("accounts", "0011_default_projects"), ("billing", "0013_usage_cache_write")]
AFTER = [("accounts", "0012_account_group")]


def test_existing_accounts_join_the_default_group():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    account_id = old.get_model("accounts", "Account").objects.create(name="Old", email="old@example.com").pk

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    account = new.get_model("accounts", "Account").objects.select_related("group").get(pk=account_id)
    assert account.group.slug == "default"

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest for the other tests
