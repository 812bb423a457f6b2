from datetime import UTC, datetime

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from gateway.models import CatalogModel
from gateway.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a customer. The key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="")
        parser.add_argument("--models", default="", help="Comma-separated public model ids; default: all models.")
        parser.add_argument("--expires", default="", help="ISO 8601 date or datetime; naive means UTC.")

    def handle(self, *args, email: str, name: str, models: str, expires: str, **options) -> None:
        # gateway sits below accounts: reach the Account by its label, never by import.
        account = apps.get_model("accounts", "Account").objects.filter(email=email.strip().lower()).first()
        if account is None:
            raise CommandError(f"no account with email {email.strip().lower()}")
        allowed = sorted({m.strip() for m in models.split(",") if m.strip()})
        known = set(CatalogModel.objects.filter(public_id__in=allowed).values_list("public_id", flat=True))
        if unknown := [m for m in allowed if m not in known]:
            raise CommandError(f"unknown model id: {', '.join(unknown)}")
        expires_at = parse_expiry(expires) if expires else None

        issued = api_key_create(account_id=account.pk, name=name, allowed_models=allowed, expires_at=expires_at)
        self.stdout.write(f"account: {account.email}")
        self.stdout.write(f"prefix: {issued.key.prefix}")
        self.stdout.write(f"models: {', '.join(issued.key.allowed_models) or 'all'}")
        self.stdout.write(f"expires: {expires_at.isoformat() if expires_at else 'never'}")
        self.stdout.write(issued.secret)


def parse_expiry(text: str) -> datetime:
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:  # well-formed but impossible, like 2030-02-30
        moment = None
    if moment is None:
        raise CommandError(f"--expires: not an ISO 8601 date or datetime: {text!r}")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment <= timezone.now():
        raise CommandError(f"--expires: {moment.isoformat()} is in the past")
    return moment
