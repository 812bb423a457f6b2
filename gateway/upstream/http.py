"""Bounded JSON GETs for the scheduled upstream jobs (model sync, balance polling).

Sync httpx (the jobs run in Celery workers, one request at a time), no redirects, and the answer read
at most MAX_BYTES: the URL is always the channel's operator-configured base URL, but a broken or hostile
upstream must not exhaust a worker's memory."""

import json

import httpx

MAX_BYTES = 4 * 1024 * 1024
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class FetchError(Exception):
    pass


def client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)


def get_json(http: httpx.Client, url: str, headers: dict, params: dict | None = None) -> dict:
    """The JSON object at url; FetchError for a non-200, an oversized or non-JSON answer, or no object."""
    with http.stream("GET", url, headers={"accept": "application/json", **headers}, params=params) as response:
        if response.status_code != 200:
            raise FetchError(f"HTTP {response.status_code} from {response.url.path}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise FetchError(f"answer larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FetchError("the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise FetchError("the answer is not a JSON object")
    return data
