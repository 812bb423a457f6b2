"""Monthly partitions of the usage records (PostgreSQL; migration 0016 made the table partitioned).

One partition per calendar month (UTC bounds) plus a DEFAULT partition, so an insert never fails for want
of a month. `ensure_months` creates the coming months ahead (the retention task runs it hourly); a month
whose rows already landed in the default partition is created by moving them in one transaction.
`drop_months_before` detaches and drops whole months older than the retention horizon: one catalog change
instead of millions of DELETEs, no dead rows left to vacuum. On SQLite (or an unpartitioned table) both
do nothing and retention deletes rows instead (billing/retention.py).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction

from .models import UsageRecord

TABLE = UsageRecord._meta.db_table
DEFAULT = f"{TABLE}_default"


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    def plus(self, months: int) -> "Month":
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.plus(1).start

    @property
    def name(self) -> str:
        return f"{TABLE}_y{self.year:04d}m{self.month:02d}"


def partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def months() -> list[Month]:
    """The month partitions that exist, oldest first (the default partition is not a month)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = f"{TABLE}_y"
    return [Month(int(n[len(prefix) : len(prefix) + 4]), int(n[-2:])) for n in names if n.startswith(prefix)]


def _create(month: Month) -> None:
    """One month, moving what the default partition already holds of it (PostgreSQL refuses a new
    partition while the default has rows in its range)."""
    bounds = [month.start, month.end]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")  # no insert lands mid-move
        cursor.execute(f"CREATE TABLE {month.name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {month.name} SELECT * FROM moved",
            bounds,
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {month.name} FOR VALUES FROM (%s) TO (%s)", bounds)


def ensure_months(*, today: date, ahead: int) -> list[str]:
    """This month and the next `ahead` months exist; returns the partitions created."""
    if not partitioned():
        return []
    have = set(months())
    wanted = [Month.of(today).plus(n) for n in range(ahead + 1)]
    created = []
    for month in wanted:
        if month not in have:
            _create(month)
            created.append(month.name)
    return created


def drop_months_before(horizon: datetime) -> list[str]:
    """Detach and drop every month partition that ends at or before `horizon`; returns their names."""
    if not partitioned():
        return []
    dropped = []
    for month in months():
        if month.end > horizon:
            break
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {month.name}")
            cursor.execute(f"DROP TABLE {month.name}")
        dropped.append(month.name)
    return dropped
