"""Alipay through the official `alipay-sdk-python`: QR pay (alipay.trade.precreate, the portal shows the
code) or desktop page pay (alipay.trade.page.pay, a redirect), the async notification, and
alipay.trade.query / close / refund.

The SDK builds and RSA2-signs every request and verifies signatures. We send its signed request
ourselves (httpx) because the SDK's own HTTP client drops the port of ALIPAY_GATEWAY_URL (it only
speaks to :80 / :443) and fails on any non-200 answer; the response is then verified exactly as the
SDK does: the raw `<method>_response` JSON text, RSA2, with Alipay's public key.
"""

import json
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import parse_qsl

import httpx
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.response.AlipayResponse import AlipayResponse
from alipay.aop.api.response.AlipayTradeCloseResponse import AlipayTradeCloseResponse
from alipay.aop.api.response.AlipayTradePrecreateResponse import AlipayTradePrecreateResponse
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from billing.money import AmountError

from .base import (
    Checkout,
    PaymentError,
    PaymentEvent,
    PaymentUnavailableError,
    WebhookMismatchError,
    WebhookReply,
    WebhookSignatureError,
)

logger = logging.getLogger(__name__)

MICROS_PER_FEN = 10_000
SUCCESS = "10000"
PAID_STATUSES = {"TRADE_SUCCESS", "TRADE_FINISHED"}
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"  # nobody scanned the code yet: Alipay has no trade
TIMEOUT_SECONDS = 15.0
SUBJECT = "Account credit"  # what the buyer sees in the Alipay app


def _fen(amount_micros: int) -> int:
    if amount_micros <= 0 or amount_micros % MICROS_PER_FEN:
        raise AmountError(f"Alipay charges whole fen (steps of {MICROS_PER_FEN} micros), not {amount_micros}")
    return amount_micros // MICROS_PER_FEN


def yuan(amount_micros: int) -> str:
    """12_340_000 micros → '12.34', the way Alipay writes amounts."""
    fen = _fen(amount_micros)
    return f"{fen // 100}.{fen % 100:02d}"


def micros_from_yuan(text: str) -> int:
    """'12.34' → 12_340_000. Decimal, never float; more than two decimals is not an Alipay amount."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError(f"not an amount: {text!r}") from None
    fen = value * 100
    if not value.is_finite() or fen != fen.to_integral_value() or value <= 0:
        raise ValueError(f"not an amount: {text!r}")
    return int(fen) * MICROS_PER_FEN


def _der_body(text: str) -> str:
    return "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))


@lru_cache(maxsize=4)
def _private_pem(text: str) -> str:
    """The SDK signs with a PKCS#1 PEM; Alipay's key tool also hands out PKCS#8 or bare base64."""
    body = _der_body(text)
    for header in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        pem = f"-----BEGIN {header}-----\n{body}\n-----END {header}-----\n".encode()
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            continue
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    raise PaymentError("alipay: ALIPAY_APP_PRIVATE_KEY is not an RSA private key")


@lru_cache(maxsize=4)
def _public_pem(text: str) -> str:
    pem = f"-----BEGIN PUBLIC KEY-----\n{_der_body(text)}\n-----END PUBLIC KEY-----\n"
    try:
        serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise PaymentError("alipay: ALIPAY_PUBLIC_KEY is not a public key") from None
    return pem


def _verify(message: bytes, signature: str) -> bool:
    try:
        return verify_with_rsa(_public_pem(settings.ALIPAY_PUBLIC_KEY), message, signature)
    except PaymentError:
        raise
    except Exception:  # rsa.VerificationError, bad base64: not Alipay's signature
        return False


def _signed_content(raw: str, method: str) -> str:
    """The exact text of the `<method>_response` object, after checking Alipay's signature over it."""
    key = '"' + method.replace(".", "_") + '_response"'
    try:
        sign = json.loads(raw).get("sign", "")
        start = raw.index(":", raw.index(key) + len(key)) + 1
        while raw[start] in " \t\r\n":
            start += 1
        _, end = json.JSONDecoder().raw_decode(raw, start)
    except (ValueError, IndexError, AttributeError):
        raise PaymentUnavailableError(f"alipay: unreadable {method} response") from None
    content = raw[start:end]
    if not sign or not _verify(content.encode(), sign):
        raise PaymentUnavailableError(f"alipay: {method} response is not signed by Alipay")
    return content


def _error(method: str, response: AlipayResponse) -> PaymentError:
    return PaymentError(f"alipay {method}: {response.code} {response.sub_code or ''} {response.sub_msg or ''}".strip())


class AlipayProvider:
    name = "alipay"

    def is_configured(self) -> bool:
        return bool(settings.ALIPAY_APP_ID and settings.ALIPAY_APP_PRIVATE_KEY and settings.ALIPAY_PUBLIC_KEY)

    def check_amount(self, *, amount_micros: int, currency: str) -> None:
        if currency.upper() != "CNY":
            raise AmountError(f"Alipay charges CNY, not {currency}")
        _fen(amount_micros)

    # --- outbound ------------------------------------------------------------------------------------

    def _client(self) -> DefaultAlipayClient:
        config = AlipayClientConfig()
        config.server_url = settings.ALIPAY_GATEWAY_URL
        config.app_id = settings.ALIPAY_APP_ID
        config.app_private_key = _private_pem(settings.ALIPAY_APP_PRIVATE_KEY)
        config.alipay_public_key = _public_pem(settings.ALIPAY_PUBLIC_KEY)
        config.sign_type = "RSA2"
        return DefaultAlipayClient(config)  # no logger: the SDK would log every signed request

    def _call(self, method: str, request, response: AlipayResponse) -> AlipayResponse:
        try:
            body = self._client().sdk_execute(request)  # every parameter, signed and form-encoded
        except PaymentError:
            raise
        except Exception as exc:
            raise PaymentError(f"alipay: could not sign {method} ({type(exc).__name__})") from None
        try:
            answer = httpx.post(
                settings.ALIPAY_GATEWAY_URL,
                content=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise PaymentUnavailableError(f"alipay {method}: gateway unreachable ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise PaymentUnavailableError(f"alipay {method}: gateway answered HTTP {answer.status_code}")
        response.parse_response_content(_signed_content(answer.text, method))
        return response

    def create_checkout(self, *, order, success_url: str, cancel_url: str) -> Checkout:
        self.check_amount(amount_micros=order.amount_micros, currency=order.currency)
        out_trade_no = order.pk.hex
        timeout = f"{settings.HARNMODEL_TOPUP_EXPIRY_MINUTES}m"  # Alipay closes it too
        if settings.ALIPAY_CHECKOUT == "page":
            model = AlipayTradePagePayModel()
            model.product_code = "FAST_INSTANT_TRADE_PAY"
            model.out_trade_no, model.total_amount, model.subject = out_trade_no, yuan(order.amount_micros), SUBJECT
            model.timeout_express = timeout
            request = AlipayTradePagePayRequest(biz_model=model)
            request.return_url = success_url
            if settings.ALIPAY_NOTIFY_URL:
                request.notify_url = settings.ALIPAY_NOTIFY_URL
            try:
                url = self._client().page_execute(request, http_method="GET")
            except PaymentError:
                raise
            except Exception as exc:
                raise PaymentError(f"alipay: could not sign page pay ({type(exc).__name__})") from None
            return Checkout(url=url, session_id=out_trade_no)
        model = AlipayTradePrecreateModel()
        model.out_trade_no, model.total_amount, model.subject = out_trade_no, yuan(order.amount_micros), SUBJECT
        model.timeout_express = timeout
        method = "alipay.trade.precreate"
        request = AlipayTradePrecreateRequest(biz_model=model)
        if settings.ALIPAY_NOTIFY_URL:
            request.notify_url = settings.ALIPAY_NOTIFY_URL
        response = self._call(method, request, AlipayTradePrecreateResponse())
        if response.code != SUCCESS or not response.qr_code:
            raise _error(method, response)
        return Checkout(url="", session_id=out_trade_no, qr_code=response.qr_code)

    def query(self, *, order) -> PaymentEvent | None:
        model = AlipayTradeQueryModel()
        model.out_trade_no = order.pk.hex
        method = "alipay.trade.query"
        response = self._call(method, AlipayTradeQueryRequest(biz_model=model), AlipayTradeQueryResponse())
        if response.code != SUCCESS:
            if response.sub_code == TRADE_NOT_EXIST:
                return None
            raise _error(method, response)
        if response.trade_status in PAID_STATUSES:
            kind = PaymentEvent.PAID
        elif response.trade_status == "TRADE_CLOSED":
            kind = PaymentEvent.EXPIRED
        else:
            return None  # WAIT_BUYER_PAY
        try:
            amount = micros_from_yuan(response.total_amount)
        except ValueError:
            raise PaymentError(f"alipay {method}: bad total_amount") from None
        return PaymentEvent(
            provider=self.name,
            event_id=f"query:{response.trade_no}",
            kind=kind,
            order_id=response.out_trade_no or order.pk.hex,
            session_id=response.out_trade_no or order.pk.hex,
            amount_micros=amount,
            currency="CNY",
            trade_no=response.trade_no or "",
        )

    def close(self, *, order) -> None:
        model = AlipayTradeCloseModel()
        model.out_trade_no = order.pk.hex
        method = "alipay.trade.close"
        response = self._call(method, AlipayTradeCloseRequest(biz_model=model), AlipayTradeCloseResponse())
        if response.code != SUCCESS and response.sub_code != TRADE_NOT_EXIST:
            raise _error(method, response)

    def refund(self, *, order, amount_micros: int, refund_id: str) -> str:
        model = AlipayTradeRefundModel()
        model.out_trade_no = order.pk.hex
        if order.provider_trade_no:
            model.trade_no = order.provider_trade_no
        model.refund_amount = yuan(amount_micros)
        model.out_request_no = refund_id  # Alipay's idempotency key: a retry is the same refund
        model.refund_reason = "Refund"
        method = "alipay.trade.refund"
        response = self._call(method, AlipayTradeRefundRequest(biz_model=model), AlipayTradeRefundResponse())
        if response.code != SUCCESS:
            raise _error(method, response)
        return refund_id

    # --- inbound -------------------------------------------------------------------------------------

    def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        try:
            pairs = parse_qsl(payload.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise WebhookSignatureError("not a form-encoded notification") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise WebhookSignatureError("a parameter appears twice")
        sign, sign_type = params.pop("sign", ""), params.pop("sign_type", "")
        if not sign or sign_type != "RSA2":
            raise WebhookSignatureError("unsigned, or not RSA2")
        # Alipay's rule: every parameter but sign and sign_type, non-empty ones, sorted, k=v joined by &.
        content = get_sign_content({k: v for k, v in params.items() if v})
        if not _verify(content.encode("utf-8"), sign):
            raise WebhookSignatureError("signature does not verify with ALIPAY_PUBLIC_KEY")
        if params.get("app_id") != settings.ALIPAY_APP_ID:
            raise WebhookMismatchError(f"notification for app_id {params.get('app_id', '')[:40]!r}, not ours")
        status = params.get("trade_status", "")
        if status in PAID_STATUSES:
            kind = PaymentEvent.PAID
        elif status == "TRADE_CLOSED":
            kind = PaymentEvent.EXPIRED
        else:
            return None
        try:
            amount = micros_from_yuan(params.get("total_amount", ""))
        except ValueError:
            raise WebhookSignatureError("signed notification without a valid total_amount") from None
        out_trade_no = params.get("out_trade_no", "")
        return PaymentEvent(
            provider=self.name,
            event_id=params.get("notify_id") or f"notify:{params.get('trade_no', '')}",
            kind=kind,
            order_id=out_trade_no,
            session_id=out_trade_no,
            amount_micros=amount,
            currency="CNY",
            trade_no=params.get("trade_no", ""),
        )

    def webhook_reply(self, *, accepted: bool, message: str = "") -> WebhookReply:
        # Alipay reads the body only: anything but "success" is retried (up to 8 times over 25 hours).
        return WebhookReply(status=200, content_type="text/plain", body=b"success" if accepted else b"fail")
