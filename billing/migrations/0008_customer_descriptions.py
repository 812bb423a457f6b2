"""Customer-facing text apart from the staff's note: LedgerEntry.description (what the portal shows;
`note` stays internal) and RedemptionCode.description (copied to the ledger when a code is redeemed;
`batch` stays an internal label).

The columns have a database default too: the hot path's raw-SQL ledger inserts do not name them.
On SQLite adding a column rebuilds billing_ledgerentry, which drops the append-only triggers of 0003:
they are installed again here (see 0003's docstring)."""

import importlib

from django.db import migrations, models

_append_only = importlib.import_module("billing.migrations.0003_ledger_append_only")


def reinstall_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _append_only.INSTALL_SQLITE:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_hosted_tool_prices"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="description",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.AddField(
            model_name="redemptioncode",
            name="description",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="note",
            field=models.CharField(
                blank=True, help_text="Internal: staff only, never shown to the customer.", max_length=500
            ),
        ),
        migrations.AlterField(
            model_name="redemptioncode",
            name="batch",
            field=models.CharField(blank=True, db_index=True, help_text="Internal label: staff only.", max_length=100),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop, elidable=False),
    ]
