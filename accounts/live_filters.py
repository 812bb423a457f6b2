"""What a live-log viewer asked to see: parsed from the page's JSON, matched against each published event.

Pure functions: the websocket consumer applies them per connection, so a viewer's filter never costs the
relay or another viewer anything.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_LENGTH = 200
STATUS_CLASSES = {
    "ok": (100, 399),
    "error": (400, 599),
    "4xx": (400, 499),
    "5xx": (500, 599),
}


class FilterError(ValueError):
    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class LiveFilters:
    """Empty fields match everything. `customer` and `channel`: an id (digits) or part of a name (or the
    account's email); `model`: part of the public model id; `status`: ok, error, 4xx, 5xx or one code."""

    customer: str = ""
    model: str = ""
    channel: str = ""
    status: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.customer and not _id_or_text(
            self.customer, event.get("account_id"), event.get("account_name"), event.get("account_email")
        ):
            return False
        if self.model and self.model.lower() not in str(event.get("model") or "").lower():
            return False
        if self.channel and not _id_or_text(self.channel, event.get("channel_id"), event.get("channel_name")):
            return False
        return not self.status or _status_matches(self.status, event.get("status"))


def _id_or_text(wanted: str, pk: Any, *texts: Any) -> bool:
    if wanted.isdigit():
        return pk is not None and str(pk) == wanted
    needle = wanted.lower()
    return any(needle in str(text or "").lower() for text in texts)


def _status_matches(wanted: str, status: Any) -> bool:
    if not isinstance(status, int):
        return False
    if wanted in STATUS_CLASSES:
        low, high = STATUS_CLASSES[wanted]
        return low <= status <= high
    return str(status) == wanted


def parse_filters(data: Mapping[str, Any]) -> LiveFilters:
    """The filters from a viewer's message; FilterError names the field that is wrong."""
    values: dict[str, str] = {}
    for name in ("customer", "model", "channel", "status"):
        raw = data.get(name, "")
        if raw is None:
            raw = ""
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise FilterError(f"{name} must be a string", param=name)
        value = str(raw).strip()
        if len(value) > MAX_LENGTH:
            raise FilterError(f"{name} is longer than {MAX_LENGTH} characters", param=name)
        values[name] = value
    status = values["status"].lower()
    code = status.isascii() and status.isdigit() and 100 <= int(status) <= 599
    if status and status not in STATUS_CLASSES and not code:
        raise FilterError("status must be ok, error, 4xx, 5xx or an HTTP status code", param="status")
    values["status"] = status
    return LiveFilters(**values)
