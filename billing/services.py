"""Every write that moves money. Sync, atomic, keyword-only; async callers cross over once."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import fastpath, overdraft
from .locks import lock_wallet
from .models import Hold, LedgerEntry, Price, UsageRecord, Wallet
from .pricing import PriceSnapshot, Usage, affordable_output_tokens, charge_micros, estimate_micros


class InsufficientBalance(Exception):
    """The wallet cannot pay for even the input of this request."""


@dataclass(frozen=True, slots=True)
class Reservation:
    hold_id: str
    amount_micros: int
    output_cap: int  # the max output tokens the hold pays for; the upstream is told this cap


@dataclass(slots=True)
class RequestFacts:
    """What the gateway knows about a request when it settles: written to its UsageRecord."""

    account_id: int
    model_id: str
    api_key_id: int | None = None
    channel_id: int | None = None
    upstream_model: str = ""
    door: str = "responses"  # the client protocol: responses, chat, messages, gemini
    stream: bool = False
    status: int = 200
    error_code: str = ""
    latency_ms: int = 0
    first_byte_ms: int | None = None
    attempts: list = field(default_factory=list)
    upstream_cost_micros: int | None = None  # at the channel's cost price; None = unknown


@dataclass(frozen=True, slots=True)
class Settlement:
    cost_micros: int
    balance_micros: int
    replayed: bool  # True when this request had already been settled: nothing was charged again


def wallet_open(*, account_id: int) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(account_id=account_id)
    return wallet


def hold_reserve(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
) -> Reservation:
    """Reserve the worst case of a request. When the wallet has less, reserve what it has and cap
    the output to what that pays for, rather than refusing an agent that asks for 128k tokens.
    `tool_micros` (hosted-tool calls, pricing.tool_hold_micros) is held whole, never capped."""
    if fastpath.available():
        amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
        hold_id = fastpath.reserve(account_id=account_id, request_id=request_id, amount=amount, ttl_seconds=ttl_seconds)
        if hold_id is not None:
            return Reservation(hold_id=hold_id, amount_micros=amount, output_cap=max_output_tokens)
    return _hold_reserve_locked(
        account_id=account_id,
        request_id=request_id,
        input_tokens=input_tokens,
        max_output_tokens=max_output_tokens,
        price=price,
        ttl_seconds=ttl_seconds,
        tool_micros=tool_micros,
    )


@transaction.atomic
def _hold_reserve_locked(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
) -> Reservation:
    wallet = lock_wallet(account_id=account_id)
    available = wallet.balance_micros - wallet.held_micros
    cap = max_output_tokens
    amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
    if amount > available:
        cap = min(max_output_tokens, affordable_output_tokens(available - tool_micros, input_tokens, price))
        if available <= 0 or cap < 1:
            raise InsufficientBalance
        amount = estimate_micros(input_tokens, cap, price, tool_micros)
    Wallet.objects.filter(pk=wallet.pk).update(held_micros=wallet.held_micros + amount)
    hold = Hold.objects.create(
        wallet=wallet,
        request_id=request_id,
        amount_micros=amount,
        expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
    )
    return Reservation(hold_id=str(hold.pk), amount_micros=amount, output_cap=cap)


def hold_settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> Settlement:
    """Charge what the request used, release the rest of its hold, write its usage record.

    Idempotent per request: a second call finds the hold closed and charges nothing.
    `usage=None` means nothing billable happened (the upstream failed before any output).
    """
    if fastpath.available():
        cost = charge_micros(usage, price) if usage is not None else 0
        balance = fastpath.settle(
            request_id=request_id, cost=cost, usage=usage, price_id=price.id, facts=facts, estimated=usage_estimated,
            group_rule_id=price.group_rule_id,
        )
        if balance is not None:
            return Settlement(cost_micros=cost, balance_micros=balance, replayed=False)
    return _hold_settle_locked(
        request_id=request_id, usage=usage, price=price, facts=facts, usage_estimated=usage_estimated
    )


@transaction.atomic
def _hold_settle_locked(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool
) -> Settlement:
    wallet_id = Hold.objects.filter(request_id=request_id).values_list("wallet_id", flat=True).get()
    wallet = lock_wallet(wallet_id=wallet_id)
    hold = Hold.objects.get(request_id=request_id)  # re-read under the wallet lock
    # An expired hold whose request still settles (it outlived the TTL): charge it now, unheld.
    late = hold.status == Hold.Status.EXPIRED and usage is not None
    if hold.status != Hold.Status.OPEN and not late:
        charged = LedgerEntry.objects.filter(idempotency_key=f"charge:{request_id}").first()
        cost = -charged.amount_micros if charged else 0
        return Settlement(cost_micros=cost, balance_micros=wallet.balance_micros, replayed=True)

    held = 0 if late else hold.amount_micros  # the sweeper already gave an expired hold back
    full_cost = charge_micros(usage, price) if usage is not None else 0
    split = overdraft.charge_split(
        cost=full_cost,
        hold=held,
        balance=wallet.balance_micros,
        held=wallet.held_micros,
        overdraft=overdraft.overdraft_limit_micros(),
    )
    cost = split.charged
    if split.uncharged:
        facts.error_code = facts.error_code or "charge_capped"
        overdraft.alert_uncharged(
            request_id=request_id, account_id=facts.account_id, cost=full_cost, charged=cost, hold=held
        )
    balance = wallet.balance_micros - cost
    if cost:
        LedgerEntry.objects.create(
            wallet=wallet,
            kind=LedgerEntry.Kind.CHARGE,
            amount_micros=-cost,
            balance_after_micros=balance,
            idempotency_key=f"charge:{request_id}",
            request_id=request_id,
            note=facts.model_id,
            actor="gateway",
        )
    Wallet.objects.filter(pk=wallet.pk).update(
        balance_micros=balance, held_micros=wallet.held_micros - held, updated_at=timezone.now()
    )
    Hold.objects.filter(pk=hold.pk).update(
        status=Hold.Status.SETTLED if usage is not None else Hold.Status.RELEASED, closed_at=timezone.now()
    )
    usage = usage or Usage()
    UsageRecord.objects.create(
        request_id=request_id,
        account_id=facts.account_id,
        api_key_id=facts.api_key_id,
        channel_id=facts.channel_id,
        price_id=price.id,
        group_rule_id=price.group_rule_id,
        model_id=facts.model_id,
        upstream_model=facts.upstream_model,
        door=facts.door,
        stream=facts.stream,
        status=facts.status,
        error_code=facts.error_code,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        tool_calls=dict(usage.tool_calls),
        cost_micros=cost,
        upstream_cost_micros=facts.upstream_cost_micros,
        usage_estimated=usage_estimated,
        latency_ms=facts.latency_ms,
        first_byte_ms=facts.first_byte_ms,
        attempts=facts.attempts,
    )
    return Settlement(cost_micros=cost, balance_micros=balance, replayed=False)


def hold_touch(*, request_id: str, ttl_seconds: int) -> bool:
    """Push a live request's hold expiry to now + ttl (one UPDATE): the relay calls it while the request
    runs, so the sweeper only ever expires holds of dead workers. False if the hold is no longer open."""
    expires = timezone.now() + timedelta(seconds=ttl_seconds)
    return bool(Hold.objects.filter(request_id=request_id, status=Hold.Status.OPEN).update(expires_at=expires))


def holds_expire(*, now=None, limit: int = 500) -> int:
    """Release holds whose request died with its worker (past expiry, still open). Returns count.

    Nothing is charged: a crashed request has no trustworthy usage. Live requests keep their holds
    fresh (hold_touch); one that still settles after its hold expired is charged then, unheld, under
    the overdraft rule (_hold_settle_locked). Each hold is handled in its own transaction under its
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
