"""Every write that moves money. Sync, atomic, keyword-only; async callers cross over once."""

import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .holds import statement as holds_statement
from .holds.types import InsufficientBalance, RequestFacts, Reservation, Settlement
from .locks import lock_wallet
from .models import Hold, LedgerEntry, Price, Wallet

__all__ = ["InsufficientBalance", "RequestFacts", "Reservation", "Settlement"]  # re-exported: callers' old names


def wallet_open(*, account_id: int) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(account_id=account_id)
    return wallet


# The sync entry points (DB threads, tasks, the console): the statement first, then the locked path.
hold_reserve = holds_statement.reserve
hold_settle = holds_statement.settle


def hold_touch(*, request_id: str, ttl_seconds: int) -> bool:
    """Push a live request's hold expiry to now + ttl (one UPDATE): the relay calls it while the request
    runs, so the sweeper only ever expires holds of dead workers. False if the hold is no longer open."""
    expires = timezone.now() + timedelta(seconds=ttl_seconds)
    return bool(Hold.objects.filter(request_id=request_id, status=Hold.Status.OPEN).update(expires_at=expires))


def holds_expire(*, now=None, limit: int = 500) -> int:
    """Release holds whose request died with its worker (past expiry, still open). Returns count.

    Nothing is charged: a crashed request has no trustworthy usage. Live requests keep their holds
    fresh (hold_touch); one that still settles after its hold expired is charged then, unheld, under
    the overdraft rule (holds/orm.py). Each hold is handled in its own transaction under its
    wallet's lock, so a live settle racing the sweeper wins or loses whole.
    """
    now = now or timezone.now()
    expired = list(
        Hold.objects.filter(status=Hold.Status.OPEN, expires_at__lt=now).values_list("pk", "wallet_id")[:limit]
    )
    done = 0
    for hold_id, wallet_id in expired:
        with transaction.atomic():
            wallet = lock_wallet(wallet_id=wallet_id)
            hold = Hold.objects.get(pk=hold_id)
            if hold.status != Hold.Status.OPEN:
                continue
            Wallet.objects.filter(pk=wallet.pk).update(held_micros=wallet.held_micros - hold.amount_micros)
            Hold.objects.filter(pk=hold.pk).update(status=Hold.Status.EXPIRED, closed_at=now)
            done += 1
    return done


@transaction.atomic
def wallet_credit(
    *,
    account_id: int,
    amount_micros: int,
    idempotency_key: str,
    kind: str = LedgerEntry.Kind.CREDIT,
    note: str = "",
    actor: str = "",
    description: str = "",
) -> LedgerEntry:
    """Add (or, for adjustments, remove) money. Idempotent per key: a repeat returns the first row.
    `note` is for staff only; `description` is what the customer reads (empty: a neutral text)."""
    if not amount_micros:
        raise ValueError("amount must not be zero")
    wallet = lock_wallet(account_id=account_id)
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    balance = wallet.balance_micros + amount_micros
    if amount_micros < 0 and balance - wallet.held_micros < 0:
        raise InsufficientBalance
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                wallet=wallet,
                kind=kind,
                amount_micros=amount_micros,
                balance_after_micros=balance,
                idempotency_key=idempotency_key,
                note=note,
                description=description,
                actor=actor,
            )
    except IntegrityError:  # same key written by a concurrent caller of another wallet
        return LedgerEntry.objects.get(idempotency_key=idempotency_key)
    Wallet.objects.filter(pk=wallet.pk).update(balance_micros=balance, updated_at=timezone.now())
    return entry


def wallet_adjust(
    *, account_id: int, amount_micros: int, reason: str, actor: str, idempotency_key: str = "", description: str = ""
) -> LedgerEntry:
    """An operator's correction, either sign. Who and why are mandatory: they are the ledger's audit trail.
    The reason is internal (staff only); `description` is what the customer reads, by default a
    neutral "Balance adjustment".

    A negative adjustment may not take the available balance below zero (InsufficientBalance)."""
    reason, actor, description = reason.strip(), actor.strip(), description.strip()
    if len(description) > LedgerEntry._meta.get_field("description").max_length:
        raise ValueError("the customer description is too long")
    if not reason:
        raise ValueError("an adjustment needs a reason")
    if len(reason) > LedgerEntry._meta.get_field("note").max_length:
        raise ValueError("the reason is too long")
    if not actor:
        raise ValueError("an adjustment needs an actor")
    if len(actor) > LedgerEntry._meta.get_field("actor").max_length:
        raise ValueError("the actor is too long")
    return wallet_credit(
        account_id=account_id,
        amount_micros=amount_micros,
        idempotency_key=idempotency_key or f"adjust:{uuid.uuid4()}",
        kind=LedgerEntry.Kind.ADJUST,
        note=reason,
        description=description,
        actor=actor,
    )


def price_publish(
    *,
    model_id: str,
    input_micros: int,
    cached_input_micros: int,
    output_micros: int,
    effective_from=None,
    tool_call_micros: dict[str, int] | None = None,
    cache_write_micros: int | None = None,
) -> tuple[Price, bool]:
    """Add a price version unless the current one already says the same. Returns (price, created)."""
    from .selectors import price_current

    current = price_current(model_id=model_id)
    tools = dict(tool_call_micros or {})
    wanted = (input_micros, cached_input_micros, output_micros, tools, cache_write_micros)
    if current and (
        current.input_micros, current.cached_input_micros, current.output_micros, current.tool_call_micros or {},
        current.cache_write_micros,
    ) == wanted:
        return current, False
    price = Price.objects.create(
        model_id=model_id,
        input_micros=input_micros,
        cached_input_micros=cached_input_micros,
        output_micros=output_micros,
        tool_call_micros=tools,
        cache_write_micros=cache_write_micros,
        effective_from=effective_from or timezone.now(),
    )
    return price, True
