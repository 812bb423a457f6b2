"""A local Alipay open-platform gateway for offline tests: a real HTTP server the official SDK is
pointed at through ALIPAY_GATEWAY_URL.

It behaves the way Alipay documents it, independently of our provider code: every request must
carry a valid RSA2 signature by the merchant's app key (sorted non-empty parameters except `sign`,
k=v joined by &); every answer is `{"<method>_response": {...}, "sign": "..."}` signed with the
gateway's own key over the exact response text; notifications are form posts signed over all
non-empty parameters except `sign` and `sign_type`. Trades follow Alipay's states: a precreated QR
code is no trade until scanned (ACQ.TRADE_NOT_EXIST), then WAIT_BUYER_PAY → TRADE_SUCCESS, or
TRADE_CLOSED by close / full refund.
"""

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.upstream.threaded import ThreadedServer


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8, as Alipay's key tool hands it out for most languages."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_string(params: dict[str, str], *, exclude: tuple[str, ...]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v != "").encode()


def rsa2_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(public_key, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


@dataclass
class Trade:
    out_trade_no: str
    total_amount: str
    subject: str
    notify_url: str = ""
    trade_no: str = ""
    status: str = ""  # "" = precreated: the QR exists, the trade does not yet
    refunds: dict[str, str] = field(default_factory=dict)  # out_request_no → amount

    def refunded(self) -> Decimal:
        return sum((Decimal(a) for a in self.refunds.values()), Decimal(0))


class FakeAlipay(ThreadedServer):
    host = "127.0.0.1"
    port = 0
    thread_name = "fake-alipay"

    def __init__(self, *, app_id: str, app_public_pem: str) -> None:
        self.app_id = app_id
        self.app_public_key = serialization.load_pem_public_key(app_public_pem.encode())
        self.key = new_key()
        self.public_pem = public_pem(self.key)
        self.trades: dict[str, Trade] = {}
        self.calls: list[tuple[str, dict]] = []  # (method, biz_content) of every verified request
        self.rejected: list[str] = []  # why requests were refused
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/gateway.do"

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_post("/gateway.do", self._gateway)
        return application

    # --- the API -------------------------------------------------------------------------------------

    def verify_request(self, params: dict[str, str]) -> str:
        """'' when the request is the merchant's, else Alipay's sub_code for what is wrong."""
        if params.get("app_id") != self.app_id:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or not params.get("sign"):
            return "isv.missing-signature"
        if not rsa2_verify(self.app_public_key, sign_string(params, exclude=("sign",)), params["sign"]):
            return "isv.invalid-signature"
        return ""

    async def _gateway(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        params.update(parse_qsl(await request.text(), keep_blank_values=True))
        method = params.get("method", "")
        problem = self.verify_request(params)
        if problem:
            self.rejected.append(problem)
            return self._answer(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": problem})
        biz = json.loads(params.get("biz_content") or "{}")
        with self._lock:
            self.calls.append((method, biz))
            handler = {
                "alipay.trade.precreate": self._precreate,
                "alipay.trade.query": self._query,
                "alipay.trade.close": self._close,
                "alipay.trade.refund": self._refund,
            }.get(method)
            body = handler(biz, params) if handler else {"code": "40004", "sub_code": "isv.invalid-method"}
        return self._answer(method, body)

    def _answer(self, method: str, body: dict) -> web.Response:
        body = {"msg": "Success" if body.get("code") == "10000" else "Business Failed", **body}
        node = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response" if method else "error_response"
        text = f'{{"{key}":{node},"sign":"{rsa2_sign(self.key, node.encode())}"}}'
        return web.Response(text=text, content_type="application/json", charset="utf-8")

    @staticmethod
    def _fail(sub_code: str) -> dict:
        return {"code": "40004", "sub_code": sub_code, "sub_msg": sub_code}

    def _precreate(self, biz: dict, params: dict) -> dict:
        out_trade_no = biz["out_trade_no"]
        trade = self.trades.get(out_trade_no)
        if trade is not None and trade.status:
            return self._fail("ACQ.TRADE_HAS_SUCCESS" if trade.status != "WAIT_BUYER_PAY" else "ACQ.TRADE_HAS_CLOSE")
        self.trades[out_trade_no] = Trade(
            out_trade_no, biz["total_amount"], biz.get("subject", ""), notify_url=params.get("notify_url", "")
        )
        return {"code": "10000", "out_trade_no": out_trade_no, "qr_code": f"https://qr.alipay.test/{out_trade_no}"}

    def _query(self, biz: dict, params: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None or not trade.status:
            return self._fail("ACQ.TRADE_NOT_EXIST")
        return {
            "code": "10000",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "total_amount": trade.total_amount,
        }

    def _close(self, biz: dict, params: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None or not trade.status:
            return self._fail("ACQ.TRADE_NOT_EXIST")
        if trade.status != "WAIT_BUYER_PAY":
            return self._fail("ACQ.TRADE_STATUS_ERROR")
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}

    def _refund(self, biz: dict, params: dict) -> dict:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None or not trade.status:
            return self._fail("ACQ.TRADE_NOT_EXIST")
        request_no = biz.get("out_request_no") or trade.out_trade_no
        answer = {"code": "10000", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
        if request_no in trade.refunds:  # Alipay's idempotency: the same request number is the same refund
            return {**answer, "fund_change": "N", "refund_fee": str(trade.refunded())}
        if trade.status not in ("TRADE_SUCCESS",):
            return self._fail("ACQ.TRADE_STATUS_ERROR")
        amount = Decimal(biz["refund_amount"])
        if amount <= 0 or trade.refunded() + amount > Decimal(trade.total_amount):
            return self._fail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
        trade.refunds[request_no] = biz["refund_amount"]
        if trade.refunded() == Decimal(trade.total_amount):
            trade.status = "TRADE_CLOSED"
        return {**answer, "fund_change": "Y", "refund_fee": str(trade.refunded())}

    # --- what buyers and Alipay's notifier do ----------------------------------------------------------

    def scan(self, out_trade_no: str) -> Trade:
        """The buyer scans the code: now Alipay has a trade, waiting for payment."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if not trade.status:
                trade.status = "WAIT_BUYER_PAY"
                trade.trade_no = f"2026112522001{next(self._numbers):011d}"
            return trade

    def pay(self, out_trade_no: str) -> Trade:
        trade = self.scan(out_trade_no)
        with self._lock:
            trade.status = "TRADE_SUCCESS"
        return trade

    def notification(self, out_trade_no: str, /, **fields: str) -> bytes:
        """The async notification Alipay posts for a paid trade, signed; `fields` change it before signing."""
        trade = self.trades[out_trade_no]
        params = {
            "notify_time": "2026-11-25 10:00:00",
            "notify_type": "trade_status_sync",
            "notify_id": f"notify-{trade.trade_no}",
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": out_trade_no,
            "trade_status": trade.status or "WAIT_BUYER_PAY",
            "total_amount": trade.total_amount,
            "receipt_amount": trade.total_amount,
            "buyer_pay_amount": trade.total_amount,
            "subject": trade.subject,
            "gmt_create": "2026-11-25 09:59:30",
            "gmt_payment": "2026-11-25 10:00:00",
            **fields,
        }
        params["sign_type"] = "RSA2"
        params["sign"] = rsa2_sign(self.key, sign_string(params, exclude=("sign", "sign_type")))
        return urlencode(params).encode()

    def verify_page_url(self, url: str) -> dict[str, str]:
        """The parameters of a page-pay URL, after checking it is signed by the merchant."""
        params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        problem = self.verify_request(params)
        if problem:
            raise AssertionError(problem)
        return params


APP_ID = "2021000000000001"
_app_key: list[rsa.RSAPrivateKey] = []


def app_key() -> rsa.RSAPrivateKey:
    """The merchant's key pair for tests, generated once per test process."""
    if not _app_key:
        _app_key.append(new_key())
    return _app_key[0]


def start_fake_alipay() -> FakeAlipay:
    return FakeAlipay(app_id=APP_ID, app_public_pem=public_pem(app_key())).start()


def alipay_settings(fake: FakeAlipay, *, notify_url: str = "https://portal.example/billing/webhooks/alipay/") -> dict:
    """The settings (or environment) that point the SDK at `fake`."""
    return {
        "ALIPAY_APP_ID": APP_ID,
        "ALIPAY_APP_PRIVATE_KEY": private_pem(app_key()),
        "ALIPAY_PUBLIC_KEY": fake.public_pem,
        "ALIPAY_GATEWAY_URL": fake.url,
        "ALIPAY_NOTIFY_URL": notify_url,
        "ALIPAY_CHECKOUT": "qr",
    }
