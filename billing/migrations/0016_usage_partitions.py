"""PostgreSQL: billing_usagerecord becomes a table partitioned by month on created_at (issue 20: what grows
with traffic is kept flat by dropping whole months behind the rollups, billing/retention.py).

PostgreSQL requires a partitioned table's unique constraints to include the partition key, so the primary
key becomes (id, created_at) and request_id's unique constraint (request_id, created_at). A request's one
usage record rests on its hold, whose request_id stays unique (billing_hold): settle writes the record only
while closing that open hold. id keeps its values and a sequence of the same name continues them (identity
columns on partitioned tables need PostgreSQL 17). Indexes, foreign keys and checks keep their names.
SQLite, and a table already partitioned, are left as they are. The reverse keeps the partitioned table:
every earlier state of the model works on it.
"""

from datetime import UTC, datetime

from django.db import migrations

TABLE = "billing_usagerecord"
OLD = f"{TABLE}_unpartitioned"
AHEAD = 3  # months created ahead; afterwards the hourly retention task keeps them ahead


def _months(first: datetime, last: datetime):
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        start = datetime(year, month, 1, tzinfo=UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        yield start, datetime(year, month, 1, tzinfo=UTC)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        if cursor.fetchone()[0] == "p":
            return
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'f') ORDER BY conname",
            [TABLE],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.conrelid = to_regclass(%s)) "
            "ORDER BY i.indexname",
            [TABLE, TABLE],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"SELECT min(created_at), coalesce(max(id), 0) FROM {TABLE}")
        oldest, last_id = cursor.fetchone()

        # Free the names (indexes are named per schema) and the identity's sequence, then build the new table.
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        for name, _kind, _definition in constraints:
            cursor.execute(f'ALTER TABLE {OLD} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f"ALTER TABLE {OLD} ALTER COLUMN id DROP IDENTITY")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
        )
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        cursor.execute("SELECT setval(%s, %s, %s)", [f"{TABLE}_id_seq", max(last_id, 1), last_id > 0])

        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        now = datetime.now(UTC)
        last = datetime(now.year + (now.month + AHEAD - 1) // 12, (now.month + AHEAD - 1) % 12 + 1, 1, tzinfo=UTC)
        for start, end in _months(min(oldest or now, now), last):
            name = f"{TABLE}_y{start.year:04d}m{start.month:02d}"
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)", [start, end])

        for name, kind, definition in constraints:
            if kind in ("p", "u"):  # PRIMARY KEY (id) / UNIQUE (request_id): the partition key joins them
                definition = definition[:-1] + ", created_at)"
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0015_receipts_disputes")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
