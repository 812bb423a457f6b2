import json

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from gateway.crypto import SecretUnreadable, _fernet_for, decrypt_secret
from gateway.models import ChannelCredential
from gateway.pool.store import rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt every channel credential with the current HARNMODEL_ENCRYPTION_KEY. Rotation: deploy the new key "
        "as HARNMODEL_ENCRYPTION_KEY with the old one in HARNMODEL_ENCRYPTION_KEYS_OLD, run this, then drop the "
        "old key. Idempotent: secrets already under the current key are left alone. Prints JSON counts; exits 1 "
        "when a secret cannot be decrypted with any configured key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args, dry_run: bool, **options) -> None:
        current = _fernet_for(settings.HARNMODEL_ENCRYPTION_KEY)
        counts = {"credentials": 0, "rotated": 0, "already_current": 0, "unreadable": 0}
        unreadable: list[str] = []
        for pk in ChannelCredential.objects.order_by("pk").values_list("pk", flat=True):
            counts["credentials"] += 1
            # One row at a time under its lock: an operator changing the pool meanwhile is never overwritten.
            with transaction.atomic():
                cred = ChannelCredential.objects.select_for_update().select_related("channel").get(pk=pk)
                token = cred.secret_encrypted
                try:
                    current.decrypt(token.encode())
                    counts["already_current"] += 1
                    continue
                except InvalidToken:
                    pass  # under an old key, or none we have
                try:
                    if dry_run:
                        decrypt_secret(token)
                    else:
                        rotate_encryption(cred)
                    counts["rotated"] += 1
                except SecretUnreadable:
                    counts["unreadable"] += 1
                    unreadable.append(f"{cred.channel.name} ({cred.public_id})")
        self.stdout.write(json.dumps({**counts, "dry_run": dry_run}, indent=2))
        if unreadable:
            raise CommandError(
                "cannot decrypt the credential of: " + ", ".join(unreadable) + " (add the key it was encrypted with "
                "to HARNMODEL_ENCRYPTION_KEYS_OLD, or paste the credential again)"
            )
