import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import account_by_email
from billing.money import decimal_string
from billing.selectors import wallet_summary

_AMOUNTS = ("balance", "held", "available", "ledger_sum", "open_holds")


class Command(BaseCommand):
    help = "Show a customer's wallet. In a healthy system balance == ledger_sum and held == open_holds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        account = account_by_email(email=email)
        if account is None:
            raise CommandError(f"no account with email {email.strip().lower()}")
        summary = wallet_summary(account_id=account.pk)
        shown: dict[str, object] = {"email": account.email, "currency": settings.HARNMODEL_CURRENCY}
        shown |= {name: decimal_string(summary[f"{name}_micros"]) for name in _AMOUNTS}
        shown |= {f"{name}_micros": summary[f"{name}_micros"] for name in _AMOUNTS}
        shown["consistent"] = (
            summary["balance_micros"] == summary["ledger_sum_micros"]
            and summary["held_micros"] == summary["open_holds_micros"]
        )
        self.stdout.write(json.dumps(shown, indent=2))
