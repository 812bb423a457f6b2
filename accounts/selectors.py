"""Reads for customers."""

from .models import Account


def account_by_email(*, email: str) -> Account | None:
    return Account.objects.filter(email=email.strip().lower()).first()
