"""Is an upstream's error answer the death of the credential it was sent with? One rule for the relay (which then
disables that credential alone, gateway/pool/pick.py) and the health probes (gateway/observe/health.py).

Only what no retry can fix counts: refused credentials (401/403, or Gemini's 400 API_KEY_INVALID) or an explicitly
exhausted quota or billing (insufficient_quota, 402, "credit balance is too low"). Overload, rate limits and
outages (any other 429, 5xx, timeouts) are the breaker's business.
"""

import json
import re

# Only an explicit "the account has no money / quota left" signal disables a channel. A plain 429 is a
# rate limit that passes by itself (the breaker honours its Retry-After); disabling on it is the
# anchors' bug of channels that never come back in time. Phrases such as "exceeded your current quota"
# are deliberately absent: Gemini says exactly that for its per-minute limits (RESOURCE_EXHAUSTED),
# and OpenAI's hard quota is recognised by its `insufficient_quota` code, not by the wording.
_QUOTA = re.compile(
    r"insufficient[_ ]quota|credit balance is too low|billing[_ ](?:hard[_ ])?limit|billing[_ ]not[_ ]active"
    r"|out of credits",
    re.IGNORECASE,
)
# Google's ErrorInfo reasons for a dead key: it answers 400 INVALID_ARGUMENT, not 401.
_GOOGLE_BAD_KEY = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})


def _google_error(body: bytes) -> dict:
    """Google's `{"error": {"status", "details": [...]}}` (streamed errors come wrapped in a list)."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def fatal_reason(status: int, body: bytes) -> str:
    """Why the upstream account itself is unusable, or "" for anything a wait or a retry may fix."""
    if status in (401, 403):
        return f"upstream refused the credentials (HTTP {status})"
    google = _google_error(body[:20000])
    if status == 400 and google.get("status") == "INVALID_ARGUMENT":
        details = google.get("details")
        reasons = {d.get("reason") for d in details if isinstance(d, dict)} if isinstance(details, list) else set()
        if reasons & _GOOGLE_BAD_KEY:
            return f"upstream refused the credentials (HTTP {status})"
    if google.get("status") == "RESOURCE_EXHAUSTED":
        return ""  # Gemini's rate and daily limits: they reset by themselves (see _QUOTA)
    text = body[:4000].decode("utf-8", "replace")
    if status == 402 or (status in (400, 403, 429) and _QUOTA.search(text)):
        return f"upstream quota exhausted (HTTP {status})"
    return ""
