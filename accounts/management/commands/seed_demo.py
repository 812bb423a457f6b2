"""`manage.py seed_demo`: seed the embedded demo (idempotent) and print what a person needs, as JSON."""

import json

from django.core.management.base import BaseCommand

from accounts.demo import seed_demo


class Command(BaseCommand):
    help = "Seed the demo operator, customer, key, gpt-4o price and simulator channel. Safe to re-run."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(seed_demo(), indent=2))
