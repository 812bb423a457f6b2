import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.selectors import account_by_email
from accounts.services import account_create
from billing.models import LedgerEntry
from billing.money import AmountError, decimal_string, parse_amount
from billing.selectors import wallet_summary
from billing.services import wallet_credit


class Command(BaseCommand):
    help = "Create a customer account (with its wallet), optionally funded with an initial balance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="")
        parser.add_argument("--balance", default="0", help="Initial balance in currency units, e.g. 100 or 12.5.")

    def handle(self, *args, email: str, name: str, balance: str, **options) -> None:
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"not an email address: {email!r}") from None
        try:
            balance_micros = parse_amount(balance)
        except AmountError as exc:
            raise CommandError(f"--balance: {exc}") from None
        if account_by_email(email=email) is not None:
            raise CommandError(f"an account with email {email} already exists")

        try:
            # One transaction: a failed credit must not leave an unfunded account behind.
            with transaction.atomic():
                account = account_create(email=email, name=name)
                if balance_micros:
                    wallet_credit(
                        account_id=account.pk,
                        amount_micros=balance_micros,
                        idempotency_key=f"initial:{account.pk}",
                        kind=LedgerEntry.Kind.CREDIT,
                        note="initial balance",
                        actor="cli",
                    )
        except IntegrityError:  # created concurrently between the check and the insert
            raise CommandError(f"an account with email {email} already exists") from None

        summary = wallet_summary(account_id=account.pk)
        self.stdout.write(
            json.dumps(
                {
                    "account_id": account.pk,
                    "email": account.email,
                    "balance": decimal_string(summary["balance_micros"]),
                },
                indent=2,
            )
        )
