"""The payment provider interface: what top-ups need from Stripe, Alipay, WeChat Pay and the like.

A provider is stateless: it opens a checkout for an order, turns a signed webhook into a neutral
PaymentEvent, answers the webhook the way the provider expects, and on our initiative queries,
closes and refunds a trade. Crediting is not its business: that is billing.topups, the same for
every provider.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from billing.models import TopUpOrder


class PaymentError(Exception):
    """The provider refused or failed a call (network, configuration, its validation)."""


class PaymentUnavailableError(PaymentError):
    """No usable answer (network, timeout, 5xx, unverifiable reply): the call may or may not have taken
    effect. Callers that move money retry with the same idempotency key rather than assume it failed."""


class WebhookSignatureError(Exception):
    """A webhook that is not provably from the provider: missing, wrong or stale signature, or garbage."""


class WebhookMismatchError(WebhookSignatureError):
    """Correctly signed, but not for us (another app id / merchant id): refused, and operators are alerted."""


@dataclass(frozen=True, slots=True)
class Checkout:
    url: str  # where to send the customer (may be empty when qr_code is set)
    session_id: str  # the provider's id for it; the order keeps it
    qr_code: str = ""  # when set, the portal shows this text as a QR code instead of redirecting


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """What a verified webhook (or a query) told us, in our terms."""

    PAID: ClassVar[str] = "paid"  # the money is ours: credit the order
    EXPIRED: ClassVar[str] = "expired"  # the checkout ended unpaid
    FAILED: ClassVar[str] = "failed"  # a delayed payment method failed

    provider: str
    event_id: str
    kind: str
    order_id: str  # our order's UUID, with or without dashes
    session_id: str
    amount_micros: int
    currency: str  # ISO 4217, upper case, as HARNMODEL_CURRENCY
    trade_no: str = ""  # the provider's trade number (Alipay trade_no, WeChat transaction_id)


@dataclass(frozen=True, slots=True)
class CardSetupEvent:
    """A customer finished saving a card for later charges (auto top-up); the session names it."""

    provider: str
    event_id: str
    session_id: str


@dataclass(frozen=True, slots=True)
class WebhookReply:
    status: int
    content_type: str
    body: bytes


class PaymentProvider(Protocol):
    name: str

    def is_configured(self) -> bool:
        """Settings present. Unconfigured providers are hidden in the portal; their webhook is a 404."""
        ...

    def create_checkout(self, *, order: "TopUpOrder", success_url: str, cancel_url: str) -> Checkout:
        """Open a payment for `order`. Raises PaymentError, or AmountError for an amount the provider
        cannot charge exactly."""
        ...

    def check_amount(self, *, amount_micros: int, currency: str) -> None:
        """Raise AmountError unless the amount can be charged exactly (no fraction of a minor unit)."""
        ...

    def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | CardSetupEvent | None:
        """Verify and translate a webhook. None for events we do not act on; WebhookSignatureError when
        the request is not provably the provider's, WebhookMismatchError when it is not for us."""
        ...

    def webhook_reply(self, *, accepted: bool, message: str = "") -> WebhookReply:
        """The answer the provider expects: accepted = verified and handled, stop resending."""
        ...

    def query(self, *, order: "TopUpOrder") -> PaymentEvent | None:
        """Lost-callback recovery: a PAID event if paid, EXPIRED if it never will be, None while pending.
        Raises PaymentError when the provider cannot be asked."""
        ...

    def close(self, *, order: "TopUpOrder") -> None:
        """Close the trade so it cannot be paid any more. A trade the provider never saw is fine;
        PaymentError on failure (a trade that was paid meanwhile, network)."""
        ...

    def refund(self, *, order: "TopUpOrder", amount_micros: int, refund_id: str) -> str:
        """Refund part or all of a paid order to its original method, idempotent per `refund_id`.
        Returns the provider's refund id; PaymentError on refusal."""
        ...
