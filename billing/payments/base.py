"""The payment provider interface: what top-ups need from Stripe, Alipay, WeChat Pay and the like.

A provider is stateless and does two things: open a hosted checkout for an order, and turn a
signed webhook request into a neutral PaymentEvent. Crediting is not its business: that is
billing.topups, the same for every provider.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from billing.models import TopUpOrder


class PaymentError(Exception):
    """The provider refused or failed to open a checkout (network, configuration, its validation)."""


class WebhookSignatureError(Exception):
    """A webhook that is not provably from the provider: missing, wrong or stale signature, or garbage."""


@dataclass(frozen=True, slots=True)
class Checkout:
    url: str  # where to send the customer
    session_id: str  # the provider's id for it; the order keeps it


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """What a verified webhook told us, in our terms."""

    PAID: ClassVar[str] = "paid"  # the money is ours: credit the order
    EXPIRED: ClassVar[str] = "expired"  # the checkout ended unpaid
    FAILED: ClassVar[str] = "failed"  # a delayed payment method failed

    provider: str
    event_id: str
    kind: str
    order_id: str
    session_id: str
    amount_micros: int
    currency: str  # ISO 4217, upper case, as HARNMODEL_CURRENCY


class PaymentProvider(Protocol):
    name: str

    def create_checkout(self, *, order: "TopUpOrder", success_url: str, cancel_url: str) -> Checkout:
        """Open a hosted payment page for `order`. Raises PaymentError, or AmountError for an amount
        the provider cannot charge exactly."""
        ...

    def check_amount(self, *, amount_micros: int, currency: str) -> None:
        """Raise AmountError unless the amount can be charged exactly (no fraction of a minor unit)."""
        ...

    def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        """Verify and translate a webhook. None for events we do not act on; WebhookSignatureError when
        the request is not provably the provider's."""
        ...
