"""Responses answers → Gemini `GenerateContentResponse` JSON, errors, the model list and the key. Pure."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocols.gemini.channel_request import split_call_id
from gateway.wire.errors import ApiError

# HTTP status → google.rpc status name. 402 has no Google equivalent: a prepaid balance that ran out is
# RESOURCE_EXHAUSTED in Google's vocabulary (quota), and the HTTP status stays 402.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"max_output_tokens": "MAX_TOKENS", "content_filter": "SAFETY"}


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def error_body(error: ApiError) -> dict[str, Any]:
    details: list[dict[str, Any]] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                      "reason": (error.code or error.type or "error").upper(),
                                      "domain": "harnmodel"}]
    if error.param:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": error.param, "description": error.message}]})
    return {"error": {"code": error.status, "message": error.message, "status": status_name(error.status),
                      "details": details}}


def usage_metadata(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Responses usage → usageMetadata. Gemini counts visible output and thoughts apart."""
    usage = usage or {}
    prompt = _int(usage.get("input_tokens"))
    output = _int(usage.get("output_tokens"))
    cached = _int((usage.get("input_tokens_details") or {}).get("cached_tokens"))
    thoughts = min(_int((usage.get("output_tokens_details") or {}).get("reasoning_tokens")), output)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output - thoughts,
        "totalTokenCount": _int(usage.get("total_tokens")) or prompt + output,
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if isinstance(usage.get("receipt"), str):  # the gateway's signed receipt (gateway/receipts/)
        meta["receipt"] = usage["receipt"]
    return meta


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def finish_reason(response: dict[str, Any]) -> str:
    status = response.get("status")
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return _FINISH.get(str(reason), "OTHER")
    if status == "failed":
        return "OTHER"
    return "STOP"


def function_call_part(item: dict[str, Any]) -> dict[str, Any]:
    """A Responses function_call item → a functionCall part, its thought signature restored."""
    base, signature = split_call_id(str(item.get("call_id") or ""))
    try:
        args = msgspec.json.decode(item.get("arguments") or "{}")
    except msgspec.DecodeError:
        args = None
    if not isinstance(args, dict):  # Gemini's args are an object; keep what the model wrote, visibly
        args = {"arguments": item.get("arguments") or ""}
    part: dict[str, Any] = {"functionCall": {"name": item.get("name") or "", "args": args, "id": base}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def output_parts(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in output:
        kind = item.get("type")
        if kind == "reasoning":
            for summary in item.get("summary") or ():
                if summary.get("text"):
                    parts.append({"text": summary["text"], "thought": True})
        elif kind == "message":
            for content in item.get("content") or ():
                if content.get("type") == "output_text":
                    parts.append({"text": content.get("text", "")})
                elif content.get("type") == "refusal":
                    parts.append({"text": content.get("refusal", "")})
        elif kind == "function_call":
            parts.append(function_call_part(item))
    return parts


def generate_content_response(response: dict[str, Any], model: str) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": output_parts(response.get("output") or [])},
        "finishReason": finish_reason(response),
        "index": 0,
    }
    if response.get("status") == "failed":
        candidate["finishMessage"] = ((response.get("error") or {}).get("message")) or "The model failed."
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(response.get("usage")),
        "modelVersion": model,
        "responseId": response.get("id") or "",
    }


def models_list(public_ids: list[str], *, display: dict[str, str] | None = None) -> dict[str, Any]:
    """`GET /v1beta/models`: our public models in Gemini's list shape."""
    display = display or {}
    return {
        "models": [
            {
                "name": f"models/{model}",
                "baseModelId": model,
                "version": "001",
                "displayName": display.get(model) or model,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            }
            for model in public_ids
        ]
    }


def api_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key as Google's clients send it: `x-goog-api-key`, or `?key=` (also a Bearer header, for
    tools that only know that one)."""
    key = headers.get("x-goog-api-key") or query.get("key")
    if not key:
        scheme, _, secret = (headers.get("authorization") or "").partition(" ")
        key = secret.strip() if scheme.lower() == "bearer" else None
    return key.strip() if key else None
