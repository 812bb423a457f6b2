"""Django's flush, able to empty the append-only ledger on SQLite.

SQLite flushes with DELETE FROM, which the ledger's DELETE trigger refuses (migration 0003). This
wraps the flush's statements, which Django runs in one transaction, between writing and removing the
row in billing_ledger_unlock that the trigger stands down for. SQLite has one writer at a time and
the row is gone again before commit, so no other connection can use or even see the unlock.
Transactional tests reach this command too: Django's test teardown calls `flush` by name.
PostgreSQL needs nothing: it flushes with TRUNCATE, which row triggers do not see.
"""

from django.core.management.commands import flush
from django.db import connections

UNLOCK_TABLE = "billing_ledger_unlock"


class Command(flush.Command):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "sqlite" or UNLOCK_TABLE not in connection.introspection.table_names():
            return super().handle(**options)

        execute_sql_flush = connection.ops.execute_sql_flush

        def execute_unlocked(sql_list: list[str]) -> None:
            if sql_list:
                sql_list = [
                    f"INSERT INTO {UNLOCK_TABLE} (reason) VALUES ('flush')",
                    *sql_list,
                    f"DELETE FROM {UNLOCK_TABLE}",
                ]
            execute_sql_flush(sql_list)

        connection.ops.execute_sql_flush = execute_unlocked
        try:
            return super().handle(**options)
        finally:
            del connection.ops.execute_sql_flush  # back to the class's method
