"""`context_management` (Claude Code sends it on every turn): Anthropic's server-side context editing, e.g.
`{"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}` or `clear_tool_uses_*`.

An Anthropic channel gets it as sent (a same-protocol passthrough forwards the client's body). A translated
channel has no such switch: the conversation goes up whole, so nothing the client sent is lost, and the
upstream meters (and we bill) the input it really read, which can only be more than an edited prompt. The
edits are therefore a hint, validated here and kept in the extras, never a reason to refuse an agent's turn.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.protocols.anthropic.fields import array, invalid, obj, only_keys, string

MAX_EDITS = 16
_EDIT_TYPE = re.compile(r"^clear_(thinking|tool_uses)_\d{8}$")


def context_management(value: Any) -> dict[str, Any]:
    config = obj(value, "context_management")
    only_keys(config, "context_management", frozenset({"edits"}))
    for index, edit in enumerate(array(config.get("edits", []), "context_management.edits", MAX_EDITS)):
        where = f"context_management.edits[{index}]"
        kind = string(obj(edit, where).get("type"), f"{where}.type", "name")
        if not _EDIT_TYPE.match(kind):
            raise invalid(f"{where}.type", f"'{where}.type' must be a clear_thinking_* or clear_tool_uses_* edit.")
    return dict(config)
