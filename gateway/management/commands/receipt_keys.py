import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import ReceiptKey
from gateway.receipts import keys


class Command(BaseCommand):
    help = (
        "Receipt signing keys. 'list' (default); 'rotate': a new key signs from now on (within a minute on "
        "every worker), older keys stay published and keep verifying; 'retire KID': stop publishing a key "
        "(receipts it signed no longer verify — for a leaked key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", default="list", choices=["list", "rotate", "retire"])
        parser.add_argument("kid", nargs="?")

    def handle(self, *args, action: str, kid: str | None, **options) -> None:
        if action == "rotate":
            key = keys.key_create()
            self.stdout.write(f"new signing key {key.kid}")
        elif action == "retire":
            if not kid:
                raise CommandError("name the kid to retire")
            if not keys.key_retire(kid):
                raise CommandError(f"no published key {kid!r}")
            self.stdout.write(f"retired {kid}")
        rows = ReceiptKey.objects.values("kid", "created_at", "retired_at")
        self.stdout.write(json.dumps([{k: str(v) if v else None for k, v in row.items()} for row in rows], indent=2))
