"""Which credential served a request, by its short id: the last attempt's, when a channel answered (its attempts
list is the usage record's; gateway/relay/attempts.py writes `credential` into each attempt on a pooled channel)."""

from collections.abc import Mapping, Sequence
from typing import Any


def served_credential(facts: Any, attempts: Sequence[Mapping] | None = None) -> str:
    tried = attempts if attempts is not None else getattr(facts, "attempts", None) or ()
    if facts.channel_id is None or not tried:
        return ""
    return str(tried[-1].get("credential", ""))
