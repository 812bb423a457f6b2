"""Cursor pagination: opaque `next`/`previous` links, stable under inserts, no COUNT(*) over big tables."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    ordering = "-pk"  # ids only grow: newest first, and a cursor never skips or repeats a row
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200  # documented bound (README): a page is at most 200 rows
