import json

from django.core.management.base import BaseCommand, CommandError

from billing.models import Wallet
from billing.reconcile import ledger_reconcile


class Command(BaseCommand):
    help = "Check every wallet: balance == sum(ledger), held == sum(open holds). Exit code 1 on any drift."

    def handle(self, *args, **options) -> None:
        drifts = ledger_reconcile()
        shown = {"wallets": Wallet.objects.count(), "drift": [drift.as_dict() for drift in drifts]}
        self.stdout.write(json.dumps(shown, indent=2))
        if drifts:
            raise CommandError(f"{len(drifts)} wallet(s) drifted from their ledger", returncode=1)
