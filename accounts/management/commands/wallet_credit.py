import json
import os
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import account_by_email
from billing.models import LedgerEntry
from billing.money import AmountError, decimal_string, parse_amount
from billing.selectors import wallet_summary
from billing.services import InsufficientBalance, wallet_credit


class Command(BaseCommand):
    help = "Credit a customer's wallet (a negative AMOUNT is a correction). AMOUNT is in currency units."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("amount", help="Currency units, e.g. 50 or -12.5.")
        parser.add_argument("--note", required=True, help="Why: shown in the ledger.")
        parser.add_argument("--idempotency-key", default="", help="Repeat-safe key; default adjust:<uuid4>.")

    def handle(self, *args, email: str, amount: str, note: str, idempotency_key: str, **options) -> None:
        account = account_by_email(email=email)
        if account is None:
            raise CommandError(f"no account with email {email.strip().lower()}")
        try:
            micros = parse_amount(amount, allow_negative=True)
        except AmountError as exc:
            raise CommandError(f"amount: {exc}") from None
        if not micros:
            raise CommandError("amount must not be zero")
        if not note.strip():
            raise CommandError("--note must not be empty")
        key = idempotency_key.strip() or f"adjust:{uuid.uuid4()}"
        replayed = LedgerEntry.objects.filter(idempotency_key=key).exists()

        try:
            entry = wallet_credit(
                account_id=account.pk,
                amount_micros=micros,
                idempotency_key=key,
                kind=LedgerEntry.Kind.CREDIT if micros > 0 else LedgerEntry.Kind.ADJUST,
                note=note.strip(),
                actor="cli:" + (os.environ.get("USER") or "operator"),
            )
        except InsufficientBalance:
            available = wallet_summary(account_id=account.pk)["available_micros"]
            raise CommandError(
                f"correction of {decimal_string(micros)} would make the available balance "
                f"({decimal_string(available)}) negative"
            ) from None
        # The service returns the first row for a repeated key, whatever it was for: say so if it differs.
        if entry.wallet.account_id != account.pk or entry.amount_micros != micros:
            raise CommandError(f"idempotency key {key!r} was already used for a different entry (#{entry.pk})")

        balance = wallet_summary(account_id=account.pk)["balance_micros"]
        self.stdout.write(
            json.dumps(
                {
                    "entry_id": entry.pk,
                    "amount": decimal_string(entry.amount_micros),
                    "balance": decimal_string(balance),
                    "replayed": replayed,
                },
                indent=2,
            )
        )
