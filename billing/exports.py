"""CSV exports of the money tables: which columns each has, and how one cell is written.

Money goes out twice: as an exact decimal in currency units ("12.345600", six places, never a float) and
as the raw integer micros, so a spreadsheet and a reconciliation script can each take the one they trust."""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from .models import LedgerEntry, TopUpOrder, UsageRecord
from .money import MICROS_PER_UNIT

_SIX_PLACES = Decimal("0.000001")
# A cell starting with one of these is a formula to Excel / LibreOffice / Sheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def money(micros: int) -> Decimal:
    """Micros → currency units, exact: 12_345_600 → Decimal('12.345600')."""
    return (Decimal(micros) / MICROS_PER_UNIT).quantize(_SIX_PLACES)


def cell(value: Any) -> str:
    """One value as CSV text. Only text can carry a formula: numbers we computed (a negative amount)
    stay as they are, any string from a customer or an upstream is defused with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


Column = tuple[str, Callable[[Any], Any]]


@dataclass(frozen=True)
class ExportSpec:
    name: str  # file name stem
    select_related: tuple[str, ...]
    columns: tuple[Column, ...]

    def header(self) -> list[str]:
        return [name for name, _ in self.columns]

    def row(self, obj: Any) -> list[str]:
        return [cell(read(obj)) for _, read in self.columns]


def _currency(_obj: Any) -> str:
    return settings.HARNMODEL_CURRENCY


LEDGER = ExportSpec(
    name="ledger",
    select_related=("wallet__account",),
    columns=(
        ("id", lambda e: e.pk),
        ("created_at", lambda e: e.created_at),
        ("account_id", lambda e: e.wallet.account_id),
        ("account_email", lambda e: e.wallet.account.email),
        ("kind", lambda e: e.kind),
        ("amount", lambda e: money(e.amount_micros)),
        ("amount_micros", lambda e: e.amount_micros),
        ("balance_after", lambda e: money(e.balance_after_micros)),
        ("balance_after_micros", lambda e: e.balance_after_micros),
        ("currency", _currency),
        ("idempotency_key", lambda e: e.idempotency_key),
        ("request_id", lambda e: e.request_id),
        ("note", lambda e: e.note),
        ("actor", lambda e: e.actor),
    ),
)

USAGE = ExportSpec(
    name="usage",
    select_related=("account", "channel", "api_key"),
    columns=(
        ("request_id", lambda r: r.request_id),
        ("created_at", lambda r: r.created_at),
        ("account_id", lambda r: r.account_id),
        ("account_email", lambda r: r.account.email),
        ("api_key_prefix", lambda r: r.api_key.prefix if r.api_key else ""),
        ("model_id", lambda r: r.model_id),
        ("upstream_model", lambda r: r.upstream_model),
        ("channel", lambda r: r.channel.name if r.channel else ""),
        ("stream", lambda r: r.stream),
        ("status", lambda r: r.status),
        ("error_code", lambda r: r.error_code),
        ("input_tokens", lambda r: r.input_tokens),
        ("cached_input_tokens", lambda r: r.cached_input_tokens),
        ("cache_write_tokens", lambda r: r.cache_write_tokens),
        ("output_tokens", lambda r: r.output_tokens),
        ("reasoning_tokens", lambda r: r.reasoning_tokens),
        ("cost", lambda r: money(r.cost_micros)),
        ("cost_micros", lambda r: r.cost_micros),
        ("upstream_cost", lambda r: "" if r.upstream_cost_micros is None else money(r.upstream_cost_micros)),
        ("upstream_cost_micros", lambda r: "" if r.upstream_cost_micros is None else r.upstream_cost_micros),
        ("currency", _currency),
        ("usage_estimated", lambda r: r.usage_estimated),
        ("latency_ms", lambda r: r.latency_ms),
        ("first_byte_ms", lambda r: r.first_byte_ms),
    ),
)

TOPUPS = ExportSpec(
    name="topup-orders",
    select_related=("account",),
    columns=(
        ("id", lambda o: o.pk),
        ("created_at", lambda o: o.created_at),
        ("paid_at", lambda o: o.paid_at),
        ("account_id", lambda o: o.account_id),
        ("account_email", lambda o: o.account.email),
        ("provider", lambda o: o.provider),
        ("status", lambda o: o.status),
        ("amount", lambda o: money(o.amount_micros)),
        ("amount_micros", lambda o: o.amount_micros),
        ("currency", lambda o: o.currency),
        ("provider_session_id", lambda o: o.provider_session_id),
        ("provider_event_id", lambda o: o.provider_event_id),
        ("failure_reason", lambda o: o.failure_reason),
    ),
)

SPECS: dict[type[models.Model], ExportSpec] = {LedgerEntry: LEDGER, UsageRecord: USAGE, TopUpOrder: TOPUPS}


def csv_line(values: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def csv_chunks(spec: ExportSpec, queryset: models.QuerySet, *, chunk_size: int = 2000) -> Iterator[str]:
    """The header, then one string per chunk_size rows. iterator(): rows are read from a cursor in
    chunks and never cached on the queryset, so a million-row export holds one chunk at a time."""
    yield csv_line(spec.header())
    rows = queryset.select_related(*spec.select_related).iterator(chunk_size=chunk_size)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    count = 0
    for obj in rows:
        writer.writerow(spec.row(obj))
        count += 1
        if count % chunk_size == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
