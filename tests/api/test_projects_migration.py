"""The teams migration: accounts made before projects get a default project holding every key they had."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Project
from gateway.models import ApiKey

BEFORE = [("accounts", "0010_projects"), ("gateway", "0007_apikey_project")]


@pytest.mark.django_db(transaction=True)
def test_existing_keys_land_in_a_new_default_project():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    account = old.get_model("accounts", "Account").objects.create(name="early", email="early@example.com")
    for n in range(2):
        old.get_model("gateway", "ApiKey").objects.create(account=account, prefix=f"sk-{n}", secret_hash=f"{n}" * 64)
    empty = old.get_model("accounts", "Account").objects.create(name="keyless", email="keyless@example.com")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    default = Project.objects.get(account_id=account.pk, is_default=True)
    assert set(ApiKey.objects.filter(account_id=account.pk).values_list("project_id", flat=True)) == {default.pk}
    assert Project.objects.filter(account_id=empty.pk, is_default=True).count() == 1
