"""One error shape for every management API answer that is not a success:

    {"error": {"type": ..., "code": ..., "message": ..., "param": <field or null>, "fields": {...}?}}

`type` is the class (invalid_request_error, authentication_error, permission_error, not_found_error,
rate_limit_error, api_error); `code` is stable and machine-readable; `fields` (validation errors only)
maps each bad field to its messages, and `param` names the first of them."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "conflict_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiProblem(exceptions.APIException):
    """A refusal with our own code: raise ApiProblem(400, "unknown_model", "…", param="allowed_models")."""

    def __init__(self, status_code: int, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code, self.error_code, self.param = status_code, code, param


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"field" | "field.sub" | "field.0": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, sub in detail.items():
            out.update(_flatten(sub, f"{prefix}.{name}" if prefix else str(name)))
    elif isinstance(detail, list) and detail and not all(isinstance(x, str) for x in detail):
        for n, sub in enumerate(detail):
            out.update(_flatten(sub, f"{prefix}.{n}" if prefix else str(n)))
    else:
        items = detail if isinstance(detail, list) else [detail]
        out[prefix or "non_field_errors"] = [str(x) for x in items]
    return out


def error_body(status_code: int, code: str, message: str, param: str | None = None, fields=None) -> dict:
    error = {"type": TYPES.get(status_code, "api_error"), "code": code, "message": message, "param": param}
    if fields:
        error["fields"] = fields
    return {"error": error}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's 500 (and its logging)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, ApiProblem):
        body = error_body(exc.status_code, exc.error_code, str(exc.detail), exc.param)
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        param = next(iter(fields))
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        param = None if param == "non_field_errors" else param
        body = error_body(status.HTTP_400_BAD_REQUEST, "invalid", message[:1000], param, fields)
        exc.status_code = status.HTTP_400_BAD_REQUEST
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        body = error_body(exc.status_code, code, str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
