"""The locked hold and settle: the wallet's row lock, then every case (short wallets, replays, usage
above the hold, expired holds). Works on any database; the statements (sql.py) hand it what they
cannot decide alone. Rows come from the same column map (columns.py) the statements use."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import overdraft
from ..locks import lock_wallet
from ..models import Hold, LedgerEntry, UsageRecord, Wallet
from ..pricing import PriceSnapshot, Usage, charge_micros, hold_for
from . import columns
from .types import InsufficientBalance, RequestFacts, Reservation, Settlement


@transaction.atomic
def reserve(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
    api_key_id: int | None = None,
) -> Reservation:
    """Reserve the worst case; when the wallet has less, reserve what it has and cap the output to
    what that pays for, rather than refusing an agent that asks for 128k tokens. `tool_micros`
    (hosted-tool calls) is held whole, never capped."""
    wallet = lock_wallet(account_id=account_id)
    sized = hold_for(input_tokens, max_output_tokens, price, tool_micros, wallet.balance_micros - wallet.held_micros)
    if sized is None:
        raise InsufficientBalance
    amount, cap = sized
    Wallet.objects.filter(pk=wallet.pk).update(held_micros=wallet.held_micros + amount)
    hold = Hold.objects.create(
        wallet=wallet,
        expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
        **columns.hold_values(request_id=request_id, amount=amount, api_key_id=api_key_id),
    )
    return Reservation(hold_id=str(hold.pk), amount_micros=amount, output_cap=cap)


@transaction.atomic
def settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> Settlement:
    """Charge what the request used (under the overdraft rule), release the rest, write its usage
    record. Idempotent per request: a second call finds the hold closed and charges nothing."""
    wallet_id = Hold.objects.filter(request_id=request_id).values_list("wallet_id", flat=True).get()
    wallet = lock_wallet(wallet_id=wallet_id)
    hold = Hold.objects.get(request_id=request_id)  # re-read under the wallet lock
    # An expired hold whose request still settles (it outlived the TTL): charge it now, unheld.
    late = hold.status == Hold.Status.EXPIRED and usage is not None
    if hold.status != Hold.Status.OPEN and not late:
        return _replayed(request_id, wallet)
    held = 0 if late else hold.amount_micros  # the sweeper already gave an expired hold back
    cost, balance, now = _charge(wallet, held, request_id, usage, price, facts, usage_estimated)
    Hold.objects.filter(pk=hold.pk).update(status=columns.hold_closed_status(usage), closed_at=now)
    return Settlement(cost_micros=cost, balance_micros=balance, replayed=False)


@transaction.atomic
def settle_leased(
    *,
    lease_id: str,
    carve: int,
    hold_id: str,
    request_id: str,
    usage: Usage | None,
    price: PriceSnapshot,
    facts: RequestFacts,
    usage_estimated: bool = False,
) -> Settlement:
    """Settle a request carved from a wallet lease (lease.py): what lease_sql.settle_sql declined. Its carve
    leaves the lease; a lease the sweeper closed already gave it back, so the request is charged unheld."""
    wallet_id = Hold.objects.filter(request_id=lease_id).values_list("wallet_id", flat=True).get()
    wallet = lock_wallet(wallet_id=wallet_id)
    if Hold.objects.filter(request_id=request_id).exists():  # its row is written when it settles: settled already
        return _replayed(request_id, wallet)
    lease = Hold.objects.get(request_id=lease_id)
    held = min(carve, lease.amount_micros) if lease.status == Hold.Status.OPEN else 0
    if held:
        Hold.objects.filter(pk=lease.pk).update(amount_micros=F("amount_micros") - held)
    cost, balance, now = _charge(wallet, held, request_id, usage, price, facts, usage_estimated)
    Hold.objects.create(
        id=hold_id,
        wallet=wallet,
        expires_at=now,
        **columns.carved_hold_values(
            request_id=request_id, amount=carve, api_key_id=facts.api_key_id, usage=usage, closed_at=now
        ),
    )
    return Settlement(cost_micros=cost, balance_micros=balance, replayed=False)


def _replayed(request_id: str, wallet: Wallet) -> Settlement:
    charged = LedgerEntry.objects.filter(idempotency_key=columns.charge_key(request_id)).first()
    cost = -charged.amount_micros if charged else 0
    return Settlement(cost_micros=cost, balance_micros=wallet.balance_micros, replayed=True)


def _charge(
    wallet: Wallet,
    held: int,
    request_id: str,
    usage: Usage | None,
    price: PriceSnapshot,
    facts: RequestFacts,
    usage_estimated: bool,
) -> tuple[int, int, datetime]:
    """Under the wallet's lock: charge the request's cost (overdraft rule, cost ceiling), give back `held`,
    write the charge and the usage record. Answers (cost charged, balance after, the time written)."""
    full_cost = charge_micros(usage, price) if usage is not None else 0
    split = overdraft.charge_split(
        cost=full_cost,
        hold=held,
        balance=wallet.balance_micros,
        held=wallet.held_micros,
        overdraft=overdraft.overdraft_limit_micros(),
        limit=facts.cost_limit_micros,
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
            balance_after_micros=balance,
            **columns.charge_values(request_id=request_id, cost=cost, facts=facts),
        )
    now = timezone.now()
    Wallet.objects.filter(pk=wallet.pk).update(
        balance_micros=balance, held_micros=wallet.held_micros - held, updated_at=now
    )
    UsageRecord.objects.create(
        **columns.usage_values(
            request_id=request_id, usage=usage, cost=cost, price_id=price.id, facts=facts, estimated=usage_estimated,
            group_rule_id=price.group_rule_id,
        )
    )
    return cost, balance, now
