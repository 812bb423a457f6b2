import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.crypto import KEY_PREFIX
from gateway.models import ApiKey
from gateway.selectors import api_key_find
from gateway.services import api_key_revoke

# Below this, a "prefix" is mostly the fixed `sk-` and would pick whichever key happens to be alone.
MIN_PREFIX_LENGTH = len(KEY_PREFIX) + 3


class Command(BaseCommand):
    help = "Revoke an API key, given the full key or a prefix that names exactly one key. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_or_prefix")

    def handle(self, *args, key_or_prefix: str, **options) -> None:
        text = key_or_prefix.strip()
        full_key = len(text) > 16
        if not full_key and len(text) < MIN_PREFIX_LENGTH:
            raise CommandError(f"give at least {MIN_PREFIX_LENGTH} characters of the key prefix")
        key = api_key_find(key_or_prefix=text)
        if key is None:
            if full_key:  # never echo a full secret back
                raise CommandError("no API key matches the given key")
            if ApiKey.objects.filter(prefix__startswith=text).exists():
                raise CommandError(f"prefix {text!r} matches more than one key; give more of it or the full key")
            raise CommandError(f"no API key with prefix {text!r}")
        key = api_key_revoke(key=key)
        self.stdout.write(json.dumps({"prefix": key.prefix, "revoked_at": key.revoked_at.isoformat()}, indent=2))
