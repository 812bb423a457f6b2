"""Each client door's wire, for tests that speak plain HTTP to every door alike: where a door is served, how
its key is sent, a minimal body, and a check of its native error shape (OpenAI, Anthropic, Google)."""

from dataclasses import dataclass
from typing import Any

import httpx

HI = "你好 👋"
# The type Anthropic's SDK and the status Google's clients expect for each of our statuses.
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                   403: "permission_error", 404: "not_found_error", 429: "rate_limit_error", 502: "api_error",
                   503: "overloaded_error"}
GOOGLE_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED",
                   403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 502: "UNAVAILABLE",
                   503: "UNAVAILABLE"}


@dataclass(frozen=True)
class DoorSpec:
    name: str

    def path(self, model: str) -> str:
        return {"chat": "/v1/chat/completions", "messages": "/v1/messages"}.get(
            self.name, f"/v1beta/models/{model}:generateContent")

    def headers(self, key: str) -> dict[str, str]:
        if self.name == "messages":
            return {"x-api-key": key, "anthropic-version": "2023-06-01"}
        if self.name == "gemini":
            return {"x-goog-api-key": key}
        return {"authorization": f"Bearer {key}"}

    def body(self, model: str, **extra: Any) -> dict[str, Any]:
        if self.name == "chat":
            return {"model": model, "messages": [{"role": "user", "content": HI}], **extra}
        if self.name == "messages":
            return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": HI}], **extra}
        return {"contents": [{"role": "user", "parts": [{"text": HI}]}], **extra}

    def post(self, http: httpx.Client, key: str, model: str = "gpt-4o", **extra: Any) -> httpx.Response:
        return http.post(self.path(model), headers=self.headers(key), json=self.body(model, **extra))

    def post_stream(self, http: httpx.Client, key: str, model: str = "gpt-4o") -> httpx.Response:
        """A streamed request the door's way: `stream: true`, or Gemini's `:streamGenerateContent?alt=sse`."""
        if self.name == "gemini":
            return http.post(f"/v1beta/models/{model}:streamGenerateContent?alt=sse", headers=self.headers(key),
                             json=self.body(model))
        return http.post(self.path(model), headers=self.headers(key), json=self.body(model, stream=True))

    def error(self, response: httpx.Response, status: int, code: str) -> str | None:
        """Checks the native shape; returns the field the error names (in the client's words), if any."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-request-id"].startswith("req_")
        body = response.json()
        if self.name == "chat":
            assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
            assert code in (body["error"]["code"], "*") and body["error"]["message"]
            return body["error"]["param"]
        if self.name == "messages":
            assert body["type"] == "error" and set(body) <= {"type", "error", "request_id"}
            assert body["error"] == {"type": ANTHROPIC_TYPES[status], "message": body["error"]["message"]}
            assert body["error"]["message"]
            return None
        error = body["error"]
        assert set(body) == {"error"} and error["code"] == status and error["status"] == GOOGLE_STATUSES[status]
        assert error["message"] and code in (error["details"][0]["reason"].lower(), "*")
        violations = [d for d in error["details"] if "fieldViolations" in d]
        return violations[0]["fieldViolations"][0]["field"] if violations else None


DOORS = [DoorSpec("chat"), DoorSpec("messages"), DoorSpec("gemini")]
