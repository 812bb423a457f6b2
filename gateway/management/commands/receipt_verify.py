import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.receipts.check import ReceiptInvalid, check, keys_of_jwks


class Command(BaseCommand):
    help = (
        "Verify a receipt (a compact JWS from x-harnmodel-receipt or usage.receipt; '-' or nothing: read stdin): "
        "the signature against the published keys (or --jwks FILE), then that the ledger holds the same charge. "
        "Prints the claims; exits non-zero when either check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("receipt", nargs="?", default="-")
        parser.add_argument("--jwks", help="verify with the keys in this JWKS file instead of the database's")

    def handle(self, *args, receipt: str, jwks: str | None, **options) -> None:
        text = (sys.stdin.read() if receipt == "-" else receipt).strip()
        if not text:
            raise CommandError("no receipt given")
        public = None
        if jwks:
            try:
                with open(jwks, encoding="utf-8") as handle:
                    public = keys_of_jwks(json.load(handle))
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the JWKS: {exc}") from None
        try:
            checked = check(text, public)
        except ReceiptInvalid as exc:
            raise CommandError(f"receipt INVALID: {exc}") from None
        self.stdout.write(json.dumps(checked.claims, indent=2, ensure_ascii=False))
        if not checked.ok:
            raise CommandError("signature valid, but the ledger disagrees: " + "; ".join(checked.problems))
        self.stdout.write(self.style.SUCCESS("receipt valid: signature and ledger entry match"))
