"""A local WeChat Pay API v3 gateway (aiohttp) for the Native payment calls, and WeChat's callbacks.

Like the real one it checks every request's `Authorization: WECHATPAY2-SHA256-RSA2048 ...` with the
merchant's public key (signature over `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`), answers
`/v3/pay/transactions/native`, the query and close by `out_trade_no`, and
`/v3/refund/domestic/refunds`, keeps orders in memory, and signs every answer with the platform
private key (`Wechatpay-Signature` over `TIMESTAMP\\nNONCE\\nBODY\\n`, `Wechatpay-Serial` = the public
key id) so the SDK's response verification runs for real. Errors are `{"code", "message"}`.

The customer's side is two methods: `pay(out_trade_no)` (scanned and paid: refused once the order is
closed or past its `time_expire`) and `notification(out_trade_no, ...)`, the signed, AES-256-GCM
encrypted callback WeChat would post, with knobs to tamper with it.

Faults: `fail_next` (answers for the next requests, whatever they are), `response_key` (sign answers
with another key: a forger), `refund_status` (what new refunds report). Requests are in `requests`.

In tests: `keys = WeChatKeys.generate()`, `gateway = FakeWeChatPay(keys).start()`, settings from
`keys.settings(gateway.base_url, notify_url)`, … `gateway.stop()`.
"""

import base64
import json
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from tests.upstream.threaded import ThreadedServer

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
BEIJING = ZoneInfo("Asia/Shanghai")
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), SHA256())).decode()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


@dataclass(frozen=True)
class WeChatKeys:
    """A merchant key pair (we sign requests), a platform key pair (WeChat signs answers and callbacks)
    and the API v3 key (callback encryption): everything a test needs, made fresh."""

    mchid: str
    appid: str
    merchant_key: rsa.RSAPrivateKey
    merchant_serial: str
    platform_key: rsa.RSAPrivateKey
    public_key_id: str
    apiv3_key: str

    @classmethod
    def generate(cls, *, mchid: str = "1900000109", appid: str = "wxd678efh567hg6787") -> "WeChatKeys":
        return cls(
            mchid=mchid,
            appid=appid,
            merchant_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            merchant_serial=secrets.token_hex(20).upper(),
            platform_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            public_key_id=f"PUB_KEY_ID_{secrets.token_hex(16).upper()}",
            apiv3_key=_nonce(32),
        )

    @property
    def secret_texts(self) -> list[str]:
        """Every secret as text, and the base64 middle of each PEM (what would leak in practice)."""
        pems = [_pem_private(self.merchant_key), _pem_private(self.platform_key)]
        cores = [line for pem in pems for line in pem.splitlines()[1:-1]]
        return [*pems, *cores, self.apiv3_key]

    def settings(self, gateway_url: str, notify_url: str) -> dict[str, str]:
        return {
            "WECHATPAY_MCHID": self.mchid,
            "WECHATPAY_APPID": self.appid,
            "WECHATPAY_PRIVATE_KEY": _pem_private(self.merchant_key),
            "WECHATPAY_CERT_SERIAL_NO": self.merchant_serial,
            "WECHATPAY_APIV3_KEY": self.apiv3_key,
            "WECHATPAY_PUBLIC_KEY": _pem_public(self.platform_key.public_key()),
            "WECHATPAY_PUBLIC_KEY_ID": self.public_key_id,
            "WECHATPAY_GATEWAY_URL": gateway_url,
            "WECHATPAY_NOTIFY_URL": notify_url,
        }

    def signed_headers(self, body: bytes, *, timestamp: int | None = None, key: rsa.RSAPrivateKey | None = None):
        """Platform-signed headers for a body, as on WeChat's answers and callbacks."""
        stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), _nonce()
        signature = _sign(key or self.platform_key, f"{stamp}\n{nonce}\n{body.decode()}\n")
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.public_key_id,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }


@dataclass
class FakeOrder:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    total: int
    currency: str
    notify_url: str
    time_expire: str
    code_url: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by out_refund_no

    def transaction(self) -> dict[str, Any]:
        """The order as WeChat describes it (query answer and callback resource)."""
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": "NATIVE",
            "trade_state": self.state,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭"}.get(self.state, ""),
            "attach": "",
            "amount": {"total": self.total, "currency": self.currency},
        }
        if self.transaction_id:
            body |= {
                "transaction_id": self.transaction_id,
                "bank_type": "OTHERS",
                "success_time": self.success_time,
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            }
            body["amount"] |= {"payer_total": self.total, "payer_currency": self.currency}
        return body


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with the query string
    body: dict[str, Any] | None


class FakeWeChatPay(ThreadedServer):
    thread_name = "fake-wechatpay"

    def __init__(self, keys: WeChatKeys, host: str = "127.0.0.1", port: int = 0) -> None:
        self.keys = keys
        self.host = host
        self.port = port
        self.orders: dict[str, FakeOrder] = {}
        self.requests: list[Recorded] = []
        self.fail_next: list[tuple[int, dict[str, Any]]] = []  # (status, body) answers for the next requests
        self.response_key: rsa.RSAPrivateKey | None = None  # sign answers with this instead: a forger
        self.refund_status = "PROCESSING"  # what new refunds report (SUCCESS, CLOSED, ABNORMAL...)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.orders.clear()
            self.requests.clear()
            self.fail_next.clear()
        self.response_key, self.refund_status = None, "PROCESSING"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- the customer's side ---------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> str:
        """The customer scans the code and pays: the order is SUCCESS. Returns the transaction_id."""
        with self._lock:
            order = self.orders[out_trade_no]
            if order.state != "NOTPAY":
                raise ValueError(f"order {out_trade_no} is {order.state}: it cannot be paid")
            if datetime.fromisoformat(order.time_expire) < datetime.now(UTC):
                raise ValueError(f"order {out_trade_no} expired at {order.time_expire}")
            order.state = "SUCCESS"
            order.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
            order.success_time = datetime.now(BEIJING).isoformat(timespec="seconds")
            return order.transaction_id

    def notification(
        self,
        out_trade_no: str,
        *,
        total: int | None = None,
        mchid: str | None = None,
        appid: str | None = None,
        timestamp: int | None = None,
        signature: str = "valid",  # "valid" | "corrupt" | "other-key" | "body-changed"
        event_type: str = "TRANSACTION.SUCCESS",
        apiv3_key: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The callback WeChat would post for this order: (body, headers). The resource is the order's
        transaction, with `total` / `mchid` / `appid` replaced when given, encrypted with the API v3 key."""
        with self._lock:
            resource = self.orders[out_trade_no].transaction()
        resource |= {k: v for k, v in (("mchid", mchid), ("appid", appid)) if v is not None}
        if total is not None:
            resource["amount"] = {**resource["amount"], "total": total, "payer_total": total}
        nonce, associated = _nonce(12), "transaction"
        ciphertext = AESGCM((apiv3_key or self.keys.apiv3_key).encode()).encrypt(
            nonce.encode(), _dumps(resource), associated.encode()
        )
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        }
        body = _dumps(envelope)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if signature == "other-key" else None
        headers = self.keys.signed_headers(body, timestamp=timestamp, key=other)
        if signature == "corrupt":
            raw = bytearray(base64.b64decode(headers["Wechatpay-Signature"]))
            raw[0] ^= 0xFF
            headers["Wechatpay-Signature"] = base64.b64encode(bytes(raw)).decode()
        elif signature == "body-changed":
            body = body.replace(b'"summary":"', b'"summary":"x')
        return body, headers

    # --- HTTP ----------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/pay/transactions/native", self._native)
        app.router.add_get("/v3/pay/transactions/out-trade-no/{no}", self._query)
        app.router.add_post("/v3/pay/transactions/out-trade-no/{no}/close", self._close)
        app.router.add_post("/v3/refund/domestic/refunds", self._refund)
        app.middlewares.append(self._authenticate)
        return app

    def _answer(self, status: int, body: dict[str, Any] | None = None) -> web.Response:
        data = b"" if body is None else _dumps(body)
        response = web.Response(status=status, body=data, headers=self.keys.signed_headers(data, key=self.response_key))
        if body is not None:
            response.content_type, response.charset = "application/json", "utf-8"
        return response

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._answer(status, {"code": code, "message": message})

    @web.middleware
    async def _authenticate(self, request: web.Request, handler) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(request.method, request.raw_path, body))
            failure = self.fail_next.pop(0) if self.fail_next else None
        problem = self._authorization_problem(request, raw)
        if problem:
            return self._error(401, "SIGN_ERROR", problem)
        if failure is not None:
            return self._answer(*failure)
        return await handler(request)

    def _authorization_problem(self, request: web.Request, raw: bytes) -> str:
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        fields = dict(_AUTH.findall(params))
        if scheme != SIGNATURE_TYPE or not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= set(fields):
            return "Authorization header missing or malformed"
        if (fields["mchid"], fields["serial_no"]) != (self.keys.mchid, self.keys.merchant_serial):
            return "unknown merchant or merchant certificate serial"
        if abs(time.time() - int(fields["timestamp"])) > 300:
            return "request timestamp expired"
        message = (
            f"{request.method}\n{request.raw_path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{raw.decode()}\n"
        )
        try:
            self.keys.merchant_key.public_key().verify(
                base64.b64decode(fields["signature"]), message.encode(), padding.PKCS1v15(), SHA256()
            )
        except (InvalidSignature, ValueError):
            return "signature does not verify with the merchant public key"
        return ""

    async def _native(self, request: web.Request) -> web.Response:
        body = await request.json()
        amount = body.get("amount") or {}
        if (body.get("mchid"), body.get("appid")) != (self.keys.mchid, self.keys.appid):
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        missing = [k for k in ("description", "out_trade_no", "notify_url", "time_expire") if not body.get(k)]
        if missing or not isinstance(amount.get("total"), int) or amount["total"] <= 0:
            return self._error(400, "PARAM_ERROR", f"missing or invalid: {missing or ['amount.total']}")
        if not re.fullmatch(r"[0-9A-Za-z_*|-]{6,32}", body["out_trade_no"]):
            return self._error(400, "PARAM_ERROR", "out_trade_no 格式错误")
        with self._lock:
            existing = self.orders.get(body["out_trade_no"])
            if existing is not None:
                if existing.state == "SUCCESS":
                    return self._error(400, "ORDERPAID", "该订单已支付")
                if existing.total != amount["total"]:
                    return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
                return self._answer(200, {"code_url": existing.code_url})
            order = FakeOrder(
                out_trade_no=body["out_trade_no"], appid=body["appid"], mchid=body["mchid"],
                description=body["description"], total=amount["total"], currency=amount.get("currency", "CNY"),
                notify_url=body["notify_url"], time_expire=body["time_expire"],
                code_url=f"weixin://wxpay/bizpayurl?pr={_nonce(7)}",
            )  # fmt: skip
            self.orders[order.out_trade_no] = order
        return self._answer(200, {"code_url": order.code_url})

    async def _query(self, request: web.Request) -> web.Response:
        if request.query.get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 不正确")
        with self._lock:
            order = self.orders.get(request.match_info["no"])
            answer = order.transaction() if order else None
        if answer is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._answer(200, answer)

    async def _close(self, request: web.Request) -> web.Response:
        if (await request.json()).get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 不正确")
        with self._lock:
            order = self.orders.get(request.match_info["no"])
            if order is None:
                return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
            if order.state in ("SUCCESS", "REFUND"):
                return self._error(400, "ORDERPAID", "订单已支付")
            order.state = "CLOSED"
        return self._answer(204)

    async def _refund(self, request: web.Request) -> web.Response:
        body = await request.json()
        amount = body.get("amount") or {}
        with self._lock:
            order = next(
                (
                    o
                    for o in self.orders.values()
                    if (body.get("transaction_id") and o.transaction_id == body["transaction_id"])
                    or (body.get("out_trade_no") and o.out_trade_no == body["out_trade_no"])
                ),
                None,
            )
            if order is None or not order.transaction_id:
                return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            if body.get("out_refund_no") in order.refunds:  # a retried refund is the same refund
                return self._answer(200, order.refunds[body["out_refund_no"]])
            refunded = sum(r["amount"]["refund"] for r in order.refunds.values())
            if amount.get("total") != order.total or amount.get("currency") != order.currency:
                return self._error(400, "INVALID_REQUEST", "订单金额或币种与原订单不一致")
            if not isinstance(amount.get("refund"), int) or not 0 < amount["refund"] <= order.total - refunded:
                return self._error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            refund = {
                "refund_id": f"5030{secrets.randbelow(10**24):024d}",
                "out_refund_no": body["out_refund_no"],
                "transaction_id": order.transaction_id,
                "out_trade_no": order.out_trade_no,
                "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱",
                "create_time": datetime.now(BEIJING).isoformat(timespec="seconds"),
                "status": self.refund_status,
                "funds_account": "AVAILABLE",
                "amount": {
                    "total": order.total, "refund": amount["refund"], "payer_total": order.total,
                    "payer_refund": amount["refund"], "currency": order.currency,
                },
            }  # fmt: skip
            order.refunds[body["out_refund_no"]] = refund
            order.state = "REFUND"
        return self._answer(200, refund)
