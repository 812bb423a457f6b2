"""Typed API errors and the one place they become OpenAI-shaped JSON."""

import msgspec
from django.http import HttpResponse


class ApiError(Exception):
    """An error the client sees: `{"error": {"message", "type", "param", "code"}}`."""

    status = 400
    type = "invalid_request_error"
    code: str | None = "invalid_request_error"
    retryable = False  # a client retry cannot help unless this is True

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        if retryable is not None:
            self.retryable = retryable
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(ApiError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request_error"


class InvalidAuth(ApiError):
    status = 401
    type = "authentication_error"
    code = "invalid_auth_header"


class InsufficientBalance(ApiError):
    status = 402
    type = "insufficient_quota"
    code = "insufficient_balance"


class KeySpendLimitReached(ApiError):
    """A key's own spend cap, distinct from the wallet running dry."""

    status = 402
    type = "insufficient_quota"
    code = "key_spend_limit_reached"


class ModelNotAllowed(ApiError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class ModelNotFound(ApiError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class ModelNotAvailable(ApiError):
    status = 503
    type = "service_unavailable_error"
    code = "model_not_available"
    retryable = True


class UpstreamFailed(ApiError):
    """The upstream answered with an error or not at all. Never carries its URL or credential."""

    status = 502
    type = "server_error"
    code = "upstream_error"
    retryable = True


class UpstreamTimeout(UpstreamFailed):
    status = 504
    code = "upstream_timeout"


def error_response(error: ApiError, *, request_id: str | None = None, body: dict | None = None) -> HttpResponse:
    """`body` replaces the OpenAI shape for a door that speaks another protocol (gateway/relay/doors.py)."""
    payload = error.body() if body is None else body
    response = HttpResponse(msgspec.json.encode(payload), status=error.status, content_type="application/json")
    # The official SDKs retry 408/409/429/5xx by default; say so explicitly either way.
    response["x-should-retry"] = "true" if error.retryable else "false"
    if request_id:
        response["x-request-id"] = request_id
    for name, value in error.headers.items():
        response[name] = value
    return response
