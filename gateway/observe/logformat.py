"""Log formatting and redaction, wired in settings.LOGGING (stdlib only: dictConfig imports this before apps load).

`JsonFormatter` writes one JSON object per line: ts, level, logger, message, any `extra=` fields, and the
traceback as `exc`. `RedactSecretsFilter` sits on the handler, so it sees every record of every logger
(ours, Django's, uvicorn's, httpx's) and blanks API keys and bearer tokens before anything is written.
It is defence in depth: the code never logs secrets or prompt/response bodies on purpose.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
# OpenAI-style keys (ours, OpenAI's `sk-proj-…`, Anthropic's `sk-ant-…`), bearer tokens, key-bearing headers
# and query parameters (Gemini takes `?key=`).
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"sk-[A-Za-z0-9_-]{20,}"), "sk-" + REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + REDACTED),
    (
        re.compile(
            r"""(?i)\b((?:x-goog-api-key|x-api-key|api[_-]?key|access_token)["']?\s*[:=,]\s*["']?)[^\s"'&,;}]+"""
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)([?&]key=)[^\s&#\"']+"), r"\1" + REDACTED),
    # user:password@ in a URL: a broker or database address quoted by an exception or by Celery.
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@"), r"\1" + REDACTED + "@"),
)
_QUICK = re.compile(r"(?i)sk-|bearer|api[_-]?key|access_token|key=|://[^/@\s]+@")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# uvicorn adds an ANSI-coloured copy of some messages: noise in JSON.
_SKIPPED = _STANDARD | {"color_message"}


def redact(text: str) -> str:
    if not _QUICK.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(value)
    if depth < 4 and isinstance(value, dict):
        return {key: _redact_value(item, depth + 1) for key, item in value.items()}
    if depth < 4 and isinstance(value, (list, tuple)):
        return type(value)(_redact_value(item, depth + 1) for item in value)
    return value


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record in place: message (with its args merged in), traceback and extras. Never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we can show
            message = f"{record.msg!r} % {record.args!r}"
        cleaned = redact(message)
        if cleaned != message:  # else leave msg/args alone: some formatters (uvicorn's access log) read args
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, (str, dict, list, tuple)):
                setattr(record, name, _redact_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Other extras (Django's `request`, …) are written as their str(), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _SKIPPED and not name.startswith("_") and name not in out:
                out[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=_as_text, separators=(",", ":"))


def _as_text(value: Any) -> str:
    return redact(str(value))
