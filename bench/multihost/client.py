"""One request to a gateway over HTTP, as the checks see it: status, request id, error code, which host.

HAProxy names the server that answered in `x-served-by` (bench/multihost/run writes that into its config);
a request sent straight to a host's address gets no such header and is attributed to that address.
"""

import json
import time
from dataclasses import asdict, dataclass

import aiohttp


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (connection reset, refused, timeout)
    request_id: str
    code: str  # the error's `code` (or `type`), "" on success
    host: str
    started: float  # time.time()
    ended: float

    def as_dict(self) -> dict:
        return asdict(self)


def session(limit: int = 0) -> aiohttp.ClientSession:
    """limit 0: one connection per concurrent request (a burst must not queue in the client)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, force_close=False),
                                 timeout=aiohttp.ClientTimeout(total=60))


async def post(http: aiohttp.ClientSession, base: str, path: str, key: str, body: bytes) -> Answer:
    started = time.time()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    try:
        async with http.post(base + path, data=body, headers=headers) as response:
            raw = await response.read()
            code = "" if response.status == 200 else _error_code(raw)
            host = response.headers.get("x-served-by", base.split("//", 1)[-1])
            return Answer(response.status, response.headers.get("x-request-id", ""), code, host, started, time.time())
    except (TimeoutError, aiohttp.ClientError) as error:
        return Answer(0, "", type(error).__name__, base.split("//", 1)[-1], started, time.time())


def _error_code(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        return "not-json"
    return str(error.get("code") or error.get("type") or "") if isinstance(error, dict) else ""
