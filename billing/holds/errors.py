"""What a failed single statement means, and what happens next. Never silent.

A statement runs in autocommit: an error the server answered (a unique key already taken, a
serialization failure) means it changed nothing, and a connection that died mid-statement may or may
not have committed. Either way the locked path may decide next: it re-reads the hold under the
wallet's lock, so a settlement that did commit is found closed and replayed (charged once), and a
hold that did commit makes the second insert fail on its unique request id rather than hold twice.
Any other error (our SQL or our data is wrong) would only be hidden by a fallback: it is raised.
Every error is logged with the request id and counted (`harnmodel_billing_statement_errors_total`).
"""

import logging

import psycopg
from django.db import IntegrityError, InterfaceError, OperationalError

from ..signals import statement_error

log = logging.getLogger("harnmodel.billing")

# Errors after which the locked path may decide safely (see above); Django's and psycopg's own.
_RETRYABLE: tuple[type[BaseException], ...] = (
    IntegrityError,
    OperationalError,
    InterfaceError,
    psycopg.IntegrityError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.SerializationFailure,
)


def statement_failed(*, op: str, request_id: str, exc: BaseException) -> None:
    """Log and count a failed statement; return to fall back to the locked path, or raise it."""
    retry = isinstance(exc, _RETRYABLE)
    then = "locked_path" if retry else "raised"
    statement_error.send(sender=None, op=op, error=type(exc).__name__, then=then)
    log.error(
        "billing %s statement failed (%s); %s",
        op,
        type(exc).__name__,
        "the locked path decides" if retry else "raising it",
        extra={"request_id": request_id},
        exc_info=exc,
    )
    if not retry:
        raise exc
