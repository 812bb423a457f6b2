"""Writes for customers."""

from django.db import transaction

from billing import services as billing_services

from .models import Account
from .projects import default_project


@transaction.atomic
def account_create(*, email: str, name: str = "") -> Account:
    account = Account.objects.create(email=email.strip().lower(), name=name or email.split("@")[0])
    billing_services.wallet_open(account_id=account.pk)
    default_project(account_id=account.pk)  # where its keys go unless told otherwise
    return account
