import json
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import account_by_email
from billing.money import decimal_string
from billing.redemption import RedemptionError, code_redeem
from billing.selectors import wallet_summary


class Command(BaseCommand):
    help = "Redeem a code (HM-XXXX-XXXX-XXXX-XXXX) into a customer's wallet, on their behalf."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("code")

    def handle(self, *args, email: str, code: str, **options) -> None:
        account = account_by_email(email=email)
        if account is None:
            raise CommandError(f"no account with email {email.strip().lower()}")
        try:
            entry = code_redeem(account_id=account.pk, code=code, actor="cli:" + (os.environ.get("USER") or "operator"))
        except RedemptionError as exc:
            raise CommandError(f"{exc.reason}: {exc}") from None
        balance = wallet_summary(account_id=account.pk)["balance_micros"]
        self.stdout.write(
            json.dumps(
                {
                    "entry_id": entry.pk,
                    "amount": decimal_string(entry.amount_micros),
                    "balance": decimal_string(balance),
                    "note": entry.note,
                },
                indent=2,
            )
        )
