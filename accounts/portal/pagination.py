"""Keyset pagination on (created_at, id), newest first: every page costs one index range scan,
whether it is the first page or the ten-thousandth (OFFSET would read and drop all rows before it).
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet


def encode_cursor(created_at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            return None
        moment = moment.astimezone(UTC)  # raises here, not in the SQL adapter, for a moment off the calendar
        key = int(pk)
        if not 0 < key < 2**63:  # a bigint column: a larger number is an error in SQL
            return None
        return moment, key
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None  # a mangled cursor is just the first page


@dataclass
class Page:
    rows: list
    older: str | None  # cursor for the next (older) page
    newer: str | None  # cursor for the previous (newer) page
    first: bool


def keyset_page(queryset: QuerySet, *, after: str | None, before: str | None, size: int, fields) -> Page:
    """`after`: rows older than the cursor; `before`: rows newer than it (read upwards, then flipped)."""
    going_up = decode_cursor(before) if before else None
    going_down = decode_cursor(after) if not going_up else None
    if going_up:
        moment, pk = going_up
        qs = queryset.filter(Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk)).order_by("created_at", "pk")
        rows = list(qs.values(*fields)[: size + 1])
        if not rows:  # nothing newer any more: show the newest page
            return keyset_page(queryset, after=None, before=None, size=size, fields=fields)
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        has_older = True
        has_newer = more_newer
    else:
        qs = queryset
        if going_down:
            moment, pk = going_down
            qs = qs.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
        rows = list(qs.order_by("-created_at", "-pk").values(*fields)[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = going_down is not None
    older = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if rows and has_older else None
    newer = encode_cursor(rows[0]["created_at"], rows[0]["id"]) if rows and has_newer else None
    return Page(rows=rows, older=older, newer=newer, first=not has_newer)


def keyset_chunks(queryset: QuerySet, *, fields, size: int = 2000):
    """Every row, newest first, `size` at a time: for exports that must not hold a million rows
    (nor a long-lived server-side cursor) at once."""
    cursor = None
    while True:
        qs = queryset
        if cursor:
            moment, pk = cursor
            qs = qs.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
        rows = list(qs.order_by("-created_at", "-pk").values(*fields)[:size])
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        cursor = rows[-1]["created_at"], rows[-1]["id"]
