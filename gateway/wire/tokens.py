"""An offline token counter. No vocabulary download: a calibrated estimate, used only where no
upstream count exists (holds before the call; output already sent when usage never arrived).

Rules of thumb of BPE tokenizers (o200k/cl100k): one token per CJK character, ~4 Latin letters
per token beyond the common short words, digits in groups of up to three, each punctuation mark its own token, whitespace
folded into the next word.
"""

import re
from typing import Any

from django.conf import settings

from gateway.wire import agent_items

_PIECES = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff00-\uffef\u3000-\u303f]"
    r"|[^\W\d_]+"
    r"|\d{1,3}"
    r"|[^\w\s]"
    r"|_+"
)
MESSAGE_OVERHEAD = 4  # role and separators around each message
IMAGE_TOKENS = 765  # a high-detail 512px image in OpenAI's accounting; an estimate for any provider
FILE_TOKENS = 1000


def count_tokens(text: str) -> int:
    count = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if len(piece) > 1 and piece[0].isalpha() and piece.isascii():
            count += 1 if len(piece) <= 7 else 1 + (len(piece) - 3) // 5  # common words are one token
        elif len(piece) > 1 and piece[0].isalpha():
            count += (len(piece) + 1) // 2  # non-Latin alphabets split finer than English
        else:
            count += 1
    return count


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    total = 0
    for part in content or ():
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            total += count_tokens(part.get("text") or "")
        elif kind == "refusal":
            total += count_tokens(part.get("refusal") or "")
        elif kind == "input_image":
            total += IMAGE_TOKENS
        elif kind in ("input_file", "input_audio"):
            total += FILE_TOKENS
    return total


def count_request_tokens(request: Any) -> int:
    """Estimated input tokens of a typed Responses request: instructions, input items and tools."""
    total = 0
    if request.instructions:
        total += count_tokens(request.instructions) + MESSAGE_OVERHEAD
    if isinstance(request.input, str):
        total += count_tokens(request.input) + MESSAGE_OVERHEAD
    else:
        for item in request.input:
            kind = item.get("type", "message")
            if kind == "message":
                total += _content_tokens(item.get("content")) + MESSAGE_OVERHEAD
            elif kind == "function_call":
                total += (
                    count_tokens(item.get("name") or "") + count_tokens(item.get("arguments") or "") + MESSAGE_OVERHEAD
                )
            elif kind == "function_call_output":
                output = item.get("output")
                total += (
                    count_tokens(output) if isinstance(output, str) else _content_tokens(output)
                ) + MESSAGE_OVERHEAD
            elif kind == "reasoning":
                total += sum(count_tokens(s.get("text") or "") for s in item.get("summary") or ())
            elif kind in agent_items.AGENT_ITEM_TYPES:
                total += agent_items.tokens(item, count_tokens)
    for tool in request.tools or ():
        total += count_tokens(str(tool)) // 2 + MESSAGE_OVERHEAD  # schema JSON is token-dense in punctuation
    return total


# Top-level fields that make the upstream add input stored on its side (passthrough forwards them).
_STORED_CONTEXT_FIELDS = ("previous_response_id", "conversation", "prompt")


def uncounted_input_tokens(request: Any, raw: dict[str, Any]) -> int:
    """What the hold adds to count_request_tokens for input we cannot count: a documented worst case
    (HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS once for server-stored context, HARNMODEL_FILE_HOLD_TOKENS
    per file or audio part, HARNMODEL_IMAGE_HOLD_TOKENS per image). Usage estimates keep the plain count."""
    total = 0
    stored = any(raw.get(name) for name in _STORED_CONTEXT_FIELDS)
    files = images = 0
    for item in () if isinstance(request.input, str) else request.input:
        kind = item.get("type", "message")
        stored = stored or kind == "item_reference"
        content = item.get("content") if kind == "message" else item.get("output")
        for part in content if isinstance(content, list) else ():
            part_kind = part.get("type") if isinstance(part, dict) else None
            files += part_kind in ("input_file", "input_audio")
            images += part_kind == "input_image"
    if stored:
        total += settings.HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS
    total += files * max(0, settings.HARNMODEL_FILE_HOLD_TOKENS - FILE_TOKENS)
    total += images * max(0, settings.HARNMODEL_IMAGE_HOLD_TOKENS - IMAGE_TOKENS)
    return total
