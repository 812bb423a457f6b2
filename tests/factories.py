"""Builders for test data, through the same services production uses."""

from django.utils import timezone

from accounts.services import account_create
from billing import services as billing_services
from billing.money import parse_amount
from gateway.models import CatalogModel, Channel, ChannelModel
from gateway.services import api_key_create, api_key_revoke, channel_set_secret


def make_model(
    public_id: str = "gpt-4o",
    *,
    input_price: str = "2.5",
    cached_price: str = "1.25",
    output_price: str = "10",
    max_output: int = 4096,
) -> CatalogModel:
    model, _ = CatalogModel.objects.get_or_create(
        public_id=public_id, defaults={"default_max_output_tokens": max_output}
    )
    billing_services.price_publish(
        model_id=public_id,
        input_micros=parse_amount(input_price),
        cached_input_micros=parse_amount(cached_price),
        output_micros=parse_amount(output_price),
        effective_from=timezone.now() - timezone.timedelta(seconds=1),
    )
    return model


def make_channel(
    name: str,
    *,
    provider: str = "simulator",
    base_url: str = "",
    secret: str = "",
    models: dict[str, str] | None = None,
    priority: int = 0,
    weight: int = 1,
    options: dict | None = None,
) -> Channel:
    channel = Channel(
        name=name, provider=provider, base_url=base_url, priority=priority, weight=weight, options=options or {}
    )
    channel_set_secret(channel=channel, secret=secret)
    channel.save()
    for public_id, upstream in (models or {"gpt-4o": ""}).items():
        model = CatalogModel.objects.get(public_id=public_id)
        ChannelModel.objects.create(channel=channel, model=model, upstream_name=upstream)
    return channel


def make_customer(email: str, *, balance: str = "0", models: list[str] | None = None, revoked: bool = False):
    """An account with a wallet funded through the ledger, and one API key. Returns (account, secret)."""
    account = account_create(email=email)
    if parse_amount(balance):
        billing_services.wallet_credit(
            account_id=account.pk, amount_micros=parse_amount(balance), idempotency_key=f"test:{email}", note="test"
        )
    issued = api_key_create(account_id=account.pk, name="test", allowed_models=models)
    if revoked:
        api_key_revoke(key=issued.key)
    return account, issued.secret
