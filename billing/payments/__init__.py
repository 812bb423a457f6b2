"""Payment providers, by name. The registry is the only dispatch: no provider names in `if`s elsewhere.

Dotted paths, imported on first use, so an unused provider's SDK is never loaded.
"""

from functools import cache
from importlib import import_module

from .base import (
    CardSetupEvent,
    Checkout,
    PaymentError,
    PaymentEvent,
    PaymentProvider,
    PaymentUnavailableError,
    WebhookMismatchError,
    WebhookReply,
    WebhookSignatureError,
)

PROVIDERS = {
    "stripe": "billing.payments.stripe_provider.StripeProvider",
    "alipay": "billing.payments.alipay_provider.AlipayProvider",
    "wechat": "billing.payments.wechat_provider.WeChatPayProvider",
}

__all__ = [
    "PROVIDERS",
    "CardSetupEvent",
    "Checkout",
    "PaymentError",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentUnavailableError",
    "UnknownProvider",
    "WebhookMismatchError",
    "WebhookReply",
    "WebhookSignatureError",
    "configured_providers",
    "get_provider",
]


class UnknownProvider(LookupError):
    pass


@cache
def get_provider(name: str) -> PaymentProvider:
    path = PROVIDERS.get(name)
    if path is None:
        raise UnknownProvider(name)
    module, _, attr = path.rpartition(".")
    return getattr(import_module(module), attr)()


def configured_providers() -> list[str]:
    """Names of the providers whose settings are present, in registry order."""
    return [name for name in PROVIDERS if get_provider(name).is_configured()]
