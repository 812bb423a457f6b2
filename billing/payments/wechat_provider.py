"""WeChat Pay (API v3) Native payment through the `wechatpayv3` SDK: a QR code per order, one callback.

The customer scans `code_url` with WeChat; WeChat posts a signed notification whose `resource` is
AES-256-GCM encrypted with our API v3 key. We run in platform public-key mode (WECHATPAY_PUBLIC_KEY +
WECHATPAY_PUBLIC_KEY_ID): the SDK verifies responses and callbacks with that key and never downloads
platform certificates.

Our `out_trade_no` is the order's UUID as 32 hex digits (WeChat allows at most 32 characters); it is
also the order's `provider_session_id`, and WeChat's `transaction_id` is the trade number the ledger
is keyed by.
"""

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from django.conf import settings
from wechatpayv3 import WeChatPay, WeChatPayType

from billing.money import AmountError

from .base import Checkout, PaymentError, PaymentEvent, WebhookMismatchError, WebhookReply, WebhookSignatureError

logger = logging.getLogger(__name__)

MICROS_PER_FEN = 10_000
CURRENCY = "CNY"  # WeChat Pay charges mainland merchants in fen of CNY only
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_CLOCK_SKEW = 300  # seconds: older notifications are replays (the SDK itself does not check)
TIMEOUT = (5, 20)  # connect, read (seconds)
BEIJING = ZoneInfo("Asia/Shanghai")
DESCRIPTION = "账户充值"  # what the customer sees in WeChat: "account top-up"

_PENDING = {"NOTPAY", "USERPAYING"}
_ENDED_UNPAID = {"CLOSED", "REVOKED", "PAYERROR"}


@dataclass(frozen=True, slots=True)
class _Config:
    mchid: str
    appid: str
    cert_serial_no: str
    public_key_id: str
    gateway_url: str
    notify_url: str
    private_key: str = field(repr=False)  # secrets: never in a repr, so never in a log line
    apiv3_key: str = field(repr=False)
    public_key: str = field(repr=False)

    @classmethod
    def load(cls) -> "_Config":
        return cls(**{f.name: str(getattr(settings, f"WECHATPAY_{f.name.upper()}", "") or "") for f in fields(cls)})


def _pkcs8(pem: str) -> str:
    """The SDK only parses PKCS#8 PEM; merchant tools also hand out PKCS#1 (`BEGIN RSA PRIVATE KEY`)."""
    if "BEGIN RSA PRIVATE KEY" not in pem:
        return pem
    key = load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@lru_cache(maxsize=4)  # loading (and checking) the RSA private key costs ~60 ms; the client holds no state
def _client(config: _Config) -> WeChatPay:
    try:
        client = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=config.mchid,
            private_key=_pkcs8(config.private_key),
            cert_serial_no=config.cert_serial_no,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            notify_url=config.notify_url,
            public_key=config.public_key,
            public_key_id=config.public_key_id,
            timeout=TIMEOUT,
        )
    except Exception:  # the SDK raises bare Exception("failed to load private key."); ours must not echo keys
        raise PaymentError("wechat: WECHATPAY_PRIVATE_KEY or WECHATPAY_PUBLIC_KEY is not a valid PEM key") from None
    # The SDK has no host parameter: Core.__init__ hard-codes the production host in `_gate_way`, and
    # every request (and its own download_bill) is built from that attribute. Overriding it is the one
    # place the SDK reads the host from, so a sandbox or test gateway needs nothing else.
    client._core._gate_way = config.gateway_url.rstrip("/")
    return client


def _json(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _call(what: str, request: Callable[[], tuple[int, str | bytes]]) -> tuple[int, dict[str, Any]]:
    """One SDK call → (HTTP status, JSON body). PaymentError when it never got a verified answer."""
    try:
        status, text = request()
    except Exception as exc:  # requests' errors, and the SDK's bare Exception for a bad response signature
        raise PaymentError(f"wechat {what} failed: {exc}") from exc
    return status, _json(text)


def _refused(what: str, status: int, body: Mapping[str, Any]) -> PaymentError:
    return PaymentError(f"wechat {what} refused (HTTP {status}): {body.get('code', '?')} {body.get('message', '')}")


def _fen(amount_micros: int, currency: str) -> int:
    if currency.upper() != CURRENCY:
        raise AmountError(f"WeChat Pay charges {CURRENCY} only, not {currency}")
    if amount_micros <= 0 or amount_micros % MICROS_PER_FEN:
        raise AmountError(f"{CURRENCY} amounts are charged in whole fen ({MICROS_PER_FEN} micros), not {amount_micros}")
    return amount_micros // MICROS_PER_FEN


def _out_trade_no(order) -> str:
    return order.pk.hex


class WeChatPayProvider:
    name = "wechat"

    def is_configured(self) -> bool:
        config = _Config.load()
        # AES-256-GCM needs exactly 32 bytes: a key of another length could never decrypt a callback.
        return all(getattr(config, f.name) for f in fields(config)) and len(config.apiv3_key.encode()) == 32

    def check_amount(self, *, amount_micros: int, currency: str) -> None:
        _fen(amount_micros, currency)

    def create_checkout(self, *, order, success_url: str, cancel_url: str) -> Checkout:
        config = _Config.load()
        total = _fen(order.amount_micros, order.currency)
        # WeChat itself refuses payment after time_expire, so an order cannot be paid after we expire it.
        expires_at = order.expires_at or order.created_at + timedelta(minutes=settings.HARNMODEL_TOPUP_EXPIRY_MINUTES)
        expire = expires_at.astimezone(BEIJING).isoformat(timespec="seconds")
        client = _client(config)
        status, body = _call(
            "order",
            lambda: client.pay(
                description=DESCRIPTION,
                out_trade_no=_out_trade_no(order),
                amount={"total": total, "currency": CURRENCY},
                time_expire=expire,
                notify_url=config.notify_url,
                pay_type=WeChatPayType.NATIVE,
            ),
        )
        if status != 200 or not body.get("code_url"):
            raise _refused("order", status, body)
        return Checkout(url="", session_id=_out_trade_no(order), qr_code=body["code_url"])

    # --- callbacks -----------------------------------------------------------------------------------

    def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        config = _Config.load()
        if not self.is_configured():  # never accept a callback we cannot verify
            raise WebhookSignatureError("WeChat Pay is not configured")
        lowered = {name.lower(): value for name, value in headers.items()}
        # Older notifications omit the type header; the SDK insists on it, and only this one exists.
        lowered.setdefault("wechatpay-signature-type", SIGNATURE_TYPE)
        self._check_headers(lowered, config)
        try:
            notification = _client(config).callback(lowered, payload)
        except Exception as exc:  # the SDK's bare Exception (unsupported algorithm), ValueError (not JSON)...
            raise WebhookSignatureError(f"unreadable WeChat notification: {type(exc).__name__}") from None
        if not notification or not isinstance(notification.get("resource"), dict):
            # The SDK answers None both for a bad signature and for a resource our key cannot decrypt.
            raise WebhookSignatureError("WeChat notification signature or encryption did not verify")
        if notification.get("event_type") != "TRANSACTION.SUCCESS":
            return None  # refund results and the like: nothing to credit
        transaction = notification["resource"]
        self._check_ours(transaction, config, WebhookMismatchError)
        if transaction.get("trade_state") != "SUCCESS":
            return None
        return self._event(transaction, PaymentEvent.PAID, event_id=str(notification.get("id") or ""))

    def _check_headers(self, headers: Mapping[str, str], config: _Config) -> None:
        if headers.get("wechatpay-signature-type") != SIGNATURE_TYPE:
            raise WebhookSignatureError("unsupported WeChat signature type")
        if not headers.get("wechatpay-signature"):
            raise WebhookSignatureError("no Wechatpay-Signature header")
        # Only our platform public key: any other serial would make the SDK download certificates.
        if headers.get("wechatpay-serial") != config.public_key_id:
            raise WebhookSignatureError(f"signed with key {headers.get('wechatpay-serial', '')[:64]!r}, not ours")
        try:
            skew = abs(time.time() - int(headers.get("wechatpay-timestamp", "")))
        except ValueError:
            raise WebhookSignatureError("no valid Wechatpay-Timestamp header") from None
        if skew > MAX_CLOCK_SKEW:  # the SDK does not check: a replay of an old, validly signed callback
            raise WebhookSignatureError(f"stale WeChat notification ({int(skew)} s off)")

    def _check_ours(self, transaction: Mapping[str, Any], config: _Config, error: type[Exception]) -> None:
        if (transaction.get("mchid"), transaction.get("appid")) != (config.mchid, config.appid):
            raise error(
                f"WeChat transaction for mchid {transaction.get('mchid')!r} / appid {transaction.get('appid')!r}, "
                f"ours are {config.mchid!r} / {config.appid!r}"
            )

    def _event(self, transaction: Mapping[str, Any], kind: str, *, event_id: str) -> PaymentEvent:
        amount: Mapping[str, Any] = transaction["amount"] if isinstance(transaction.get("amount"), dict) else {}
        total = amount.get("total")
        fen = total if isinstance(total, int) and not isinstance(total, bool) else 0
        trade_no = str(transaction.get("transaction_id") or "")
        return PaymentEvent(
            provider=self.name,
            event_id=event_id or f"{kind}:{trade_no or transaction.get('out_trade_no')}",
            kind=kind,
            order_id=str(transaction.get("out_trade_no") or ""),
            session_id=str(transaction.get("out_trade_no") or ""),
            amount_micros=fen * MICROS_PER_FEN,
            currency=str(amount.get("currency") or CURRENCY).upper(),
            trade_no=trade_no,
        )

    def webhook_reply(self, *, accepted: bool, message: str = "") -> WebhookReply:
        # WeChat v3: any 2xx (204 without a body) is success; 4xx/5xx with {"code": "FAIL"} makes it retry.
        if accepted:
            return WebhookReply(status=204, content_type="application/json", body=b"")
        body = json.dumps({"code": "FAIL", "message": message or "rejected"}, ensure_ascii=False).encode()
        return WebhookReply(status=400, content_type="application/json; charset=utf-8", body=body)

    # --- settlement ------------------------------------------------------------------------------------

    def query(self, *, order) -> PaymentEvent | None:
        config = _Config.load()
        client = _client(config)
        status, body = _call("query", lambda: client.query(out_trade_no=_out_trade_no(order)))
        if status == 404 and body.get("code") == "ORDER_NOT_EXIST":
            return None  # never reached WeChat (or not yet): the expiry settles it
        if status != 200:
            raise _refused("query", status, body)
        self._check_ours(body, config, PaymentError)
        if body.get("out_trade_no") != _out_trade_no(order):
            raise PaymentError(f"wechat query answered for order {body.get('out_trade_no')!r}")
        state = body.get("trade_state")
        if state == "SUCCESS":
            return self._event(body, PaymentEvent.PAID, event_id=f"query:{body.get('transaction_id')}")
        if state in _ENDED_UNPAID:
            return self._event(body, PaymentEvent.EXPIRED, event_id=f"query:{_out_trade_no(order)}:{state}")
        if state not in _PENDING:  # REFUND: paid and refunded at WeChat, never something to credit now
            logger.warning("wechat order %s is %s at WeChat: left for an operator", order.pk, state)
        return None

    def close(self, *, order) -> None:
        config = _Config.load()
        client = _client(config)
        status, body = _call("close", lambda: client.close(out_trade_no=_out_trade_no(order)))
        if 200 <= status < 300 or (status == 404 and body.get("code") == "ORDER_NOT_EXIST"):
            return
        raise _refused("close", status, body)

    def refund(self, *, order, amount_micros: int, refund_id: str) -> str:
        config = _Config.load()
        client = _client(config)
        trade_no = getattr(order, "provider_trade_no", None) or None
        amount = {
            "refund": _fen(amount_micros, order.currency),
            "total": _fen(order.amount_micros, order.currency),
            "currency": CURRENCY,
        }
        status, body = _call(
            "refund",
            lambda: client.refund(
                out_refund_no=refund_id,
                amount=amount,
                transaction_id=trade_no,
                out_trade_no=None if trade_no else _out_trade_no(order),
            ),
        )
        if status != 200 or not body.get("refund_id"):
            raise _refused("refund", status, body)
        if body.get("status") == "CLOSED":  # closed: the money went back to our merchant balance
            raise PaymentError(f"wechat refund {body['refund_id']} was closed by WeChat")
        if body.get("status") == "ABNORMAL":
            # The money has left our balance but could not reach the customer's account (a closed bank
            # card): it is still a refund, finished by hand on WeChat's merchant platform.
            logger.error(
                "wechat refund %s of order %s is ABNORMAL: finish it on the merchant platform",
                body["refund_id"],
                order.pk,
            )
        return str(body["refund_id"])
