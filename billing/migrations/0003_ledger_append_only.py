"""The ledger is append-only in the database too: UPDATE and DELETE of billing_ledgerentry raise.

LedgerEntry.save()/delete() already refuse in Python; these triggers also stop raw SQL, bulk
.update()/.delete() querysets and psql sessions. Error class is an integrity violation on both
databases (SQLSTATE 23001 restrict_violation on PostgreSQL, SQLITE_CONSTRAINT from RAISE(ABORT)).

PostgreSQL: one row-level trigger. TRUNCATE does not fire row triggers, so `flush` (and pytest-django's
teardown of transactional tests) still empties the table; TRUNCATE needs table ownership anyway.

SQLite has no TRUNCATE: `flush` runs DELETE FROM, which a plain DELETE trigger would refuse. So the
DELETE trigger stands down while billing_ledger_unlock has a row. Only billing's `flush` command
writes that row, inside the flush's own transaction (SQLite has one writer at a time, so no other
connection can delete in that window, nor ever see the row). UPDATE is refused unconditionally.
billing_ledger_unlock is deliberately not a model, so flush never empties it.

Beware on SQLite: a later migration that alters billing_ledgerentry rebuilds the table and drops
these triggers; such a migration must run INSTALL_SQLITE again (tests/billing/test_ledger_immutable.py fails if not).
"""

from django.db import migrations

MESSAGE = "billing_ledgerentry is append-only: add a correcting entry instead"

INSTALL_POSTGRESQL = [
    f"""
    CREATE OR REPLACE FUNCTION billing_ledgerentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER billing_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_append_only()
    """,
]
REMOVE_POSTGRESQL = [
    "DROP TRIGGER IF EXISTS billing_ledgerentry_append_only ON billing_ledgerentry",
    "DROP FUNCTION IF EXISTS billing_ledgerentry_append_only()",
]

INSTALL_SQLITE = [
    "CREATE TABLE IF NOT EXISTS billing_ledger_unlock (reason varchar(100) NOT NULL)",
    f"""
    CREATE TRIGGER IF NOT EXISTS billing_ledgerentry_no_update
    BEFORE UPDATE ON billing_ledgerentry
    BEGIN SELECT RAISE(ABORT, '{MESSAGE} (UPDATE refused)'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS billing_ledgerentry_no_delete
    BEFORE DELETE ON billing_ledgerentry
    WHEN NOT EXISTS (SELECT 1 FROM billing_ledger_unlock)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE} (DELETE refused)'); END
    """,
]
REMOVE_SQLITE = [
    "DROP TRIGGER IF EXISTS billing_ledgerentry_no_update",
    "DROP TRIGGER IF EXISTS billing_ledgerentry_no_delete",
    "DROP TABLE IF EXISTS billing_ledger_unlock",
]

_INSTALL = {"postgresql": INSTALL_POSTGRESQL, "sqlite": INSTALL_SQLITE}
_REMOVE = {"postgresql": REMOVE_POSTGRESQL, "sqlite": REMOVE_SQLITE}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)  # None: the PostgreSQL body has a literal %

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_topups_codes_rollups_alerts"),
    ]

    operations = [
        migrations.RunPython(_run(_INSTALL), _run(_REMOVE), elidable=False),
    ]
