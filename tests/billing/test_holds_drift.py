"""A column added to Hold, LedgerEntry or UsageRecord must be written by every path (billing/holds).

The column map (holds/columns.py) names, per model, the columns every path writes alike and the few each
path fills its own way; here both are compared with the model's columns, with the column lists the single
statements (sql.py, run by statement.py and aio.py) really insert, and with the fields the locked path
(orm.py) really passes to create(). A new column that no path writes fails one of these, on any database.
"""

import re

import pytest
from django.db.models import QuerySet

from billing.holds import columns, orm, sql
from billing.holds.types import RequestFacts
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.pricing import PriceSnapshot, Usage
from tests.factories import make_customer

MODELS = (Hold, LedgerEntry, UsageRecord)
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_column_map_covers_every_column(model):
    written, by_path = columns.TABLES[model]
    assert not set(written) & by_path
    assert set(written) | by_path == columns.model_columns(model), (
        f"{model.__name__}: add the new column to holds/columns.py (a *_values function, or *_BY_PATH if each "
        "path fills it its own way) and to what each path writes"
    )


def _inserted(statement: str, model) -> set[str]:
    match = re.search(rf"INSERT INTO {model._meta.db_table} \(([^)]*)\)", statement)
    assert match, f"no INSERT into {model._meta.db_table}"
    return {name.strip() for name in match.group(1).split(",")}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_single_statements_insert_every_column(model):
    statement = sql.reserve_sql() if model is Hold else sql.settle_sql()
    database_keys = {"id"} if model is not Hold else set()  # serial keys; a hold's uuid is ours
    assert _inserted(statement, model) == columns.model_columns(model) - database_keys


@pytest.mark.django_db
def test_the_locked_path_passes_every_column(monkeypatch):
    """Django would insert a forgotten column with its default, silently: so the check is on what the
    locked path passes to create(), not on the INSERT Django builds."""
    passed: dict[type, set[str]] = {}
    real = QuerySet.create

    def create(self, **kwargs):
        passed[self.model] = {self.model._meta.get_field(k).attname for k in kwargs}
        return real(self, **kwargs)

    account, _ = make_customer("drift@example.com", balance="1")
    monkeypatch.setattr(QuerySet, "create", create)
    orm.reserve(account_id=account.pk, request_id="d1", input_tokens=10, max_output_tokens=10, price=PRICE,
                ttl_seconds=60)
    orm.settle(request_id="d1", usage=Usage(input_tokens=10, output_tokens=5), price=PRICE,
               facts=RequestFacts(account_id=account.pk, model_id="m"))
    own = {Hold: {"created_at", "id"}, LedgerEntry: {"created_at", "id"}, UsageRecord: {"created_at", "id"}}
    for model in MODELS:
        assert passed[model] | own[model] == columns.model_columns(model), model.__name__
    assert Wallet.objects.get(account=account).held_micros == 0
