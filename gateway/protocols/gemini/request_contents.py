"""Gemini `contents` and `systemInstruction` → the internal form's input items and instructions. Pure.

Rules worth knowing:
- Function calls. A Responses `function_call` needs a `call_id` that its output repeats. Gemini gives
  calls an `id` only sometimes, so a call without one gets `call_<24 hex>` derived from its position in
  the conversation (the same history always yields the same ids), and a `functionResponse` without an
  `id` answers the oldest unanswered call of the same name. A call's `thoughtSignature` rides inside the
  call_id exactly as the Gemini channel side carries it (`signed_call_id`: one rule, one place), so a
  Gemini upstream gets it back on the next turn.
- Thought parts (`thought: true`) of earlier model turns are dropped: Gemini ignores them in history,
  and other upstreams cannot use them. Signatures on text parts are not carried (Gemini needs only the
  function-call ones).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from gateway.protocols.gemini.channel_request import signed_call_id
from gateway.protocols.gemini.request_checks import Body, array, obj, string
from gateway.wire.errors import InvalidRequest


def system_instruction(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    parts = array(obj(value, "systemInstruction").get("parts", []), "systemInstruction.parts")
    texts = []
    for index, part in enumerate(parts):
        where = f"systemInstruction.parts[{index}]"
        texts.append(string(obj(part, where).get("text"), f"{where}.text"))
    return "\n".join(texts)


class _Calls:
    """Call ids handed out so far, and the calls still waiting for their response (by name)."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[str]] = {}
        self.by_id: dict[str, str] = {}
        self.count = 0

    def call(self, gemini_id: Any, name: str, signature: Any) -> str:
        self.count += 1
        base = gemini_id if isinstance(gemini_id, str) and gemini_id else _position_id(self.count, name)
        call_id = signed_call_id(base, signature)
        self.waiting.setdefault(name, []).append(call_id)
        if isinstance(gemini_id, str) and gemini_id:
            self.by_id[gemini_id] = call_id
        return call_id

    def answer(self, gemini_id: Any, name: str, where: str) -> str:
        if isinstance(gemini_id, str) and gemini_id in self.by_id:
            call_id = self.by_id.pop(gemini_id)
            pending = self.waiting.get(name, [])
            if call_id in pending:
                pending.remove(call_id)
            return call_id
        pending = self.waiting.get(name) or []
        if not pending:
            raise InvalidRequest(
                f"This functionResponse answers no earlier functionCall named {name[:64]!r}.", param=f"{where}.name"
            )
        # Calls that carry an id will be answered by it: an answer without one takes the oldest call without one.
        named = set(self.by_id.values())
        call_id = next((candidate for candidate in pending if candidate not in named), pending[0])
        pending.remove(call_id)
        return call_id


def _position_id(position: int, name: str) -> str:
    return "call_" + hashlib.sha256(f"{position}:{name}".encode()).hexdigest()[:24]


def input_items(value: Any) -> list[Body]:
    contents = array(value, "contents")
    if not contents:
        raise InvalidRequest("'contents' must not be empty.", param="contents")
    items: list[Body] = []
    calls = _Calls()
    for index, content in enumerate(contents):
        where = f"contents[{index}]"
        content = obj(content, where)
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise InvalidRequest("A content 'role' must be user or model.", param=f"{where}.role")
        parts = array(content.get("parts"), f"{where}.parts")
        items.extend(_model_turn(parts, where, calls) if role == "model" else _user_turn(parts, where, calls))
    return items


def _user_turn(parts: list[Any], where: str, calls: _Calls) -> list[Body]:
    items: list[Body] = []
    message: list[Body] = []
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        part = obj(part, at)
        if "functionResponse" in part:
            if message:
                items.append({"type": "message", "role": "user", "content": message})
                message = []
            items.append(_function_response(obj(part["functionResponse"], f"{at}.functionResponse"), at, calls))
        elif "text" in part:
            if part.get("thought"):
                continue
            message.append({"type": "input_text", "text": string(part["text"], f"{at}.text")})
        elif "inlineData" in part:
            message.append(_inline(part["inlineData"], f"{at}.inlineData"))
        elif "fileData" in part:
            message.append(_file_data(part["fileData"], f"{at}.fileData"))
        else:
            raise _part_unsupported(part, at)
    if message:
        items.append({"type": "message", "role": "user", "content": message})
    return items


def _model_turn(parts: list[Any], where: str, calls: _Calls) -> list[Body]:
    items: list[Body] = []
    texts: list[Body] = []
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        part = obj(part, at)
        if "functionCall" in part:
            if texts:
                items.append({"type": "message", "role": "assistant", "content": texts})
                texts = []
            call = obj(part["functionCall"], f"{at}.functionCall")
            name = string(call.get("name"), f"{at}.functionCall.name")
            args = call.get("args", {})
            if not isinstance(args, dict):
                raise InvalidRequest("'functionCall.args' must be an object.", param=f"{at}.functionCall.args")
            call_id = calls.call(call.get("id"), name, part.get("thoughtSignature"))
            arguments = msgspec.json.encode(args).decode()
            items.append({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
        elif "text" in part:
            if part.get("thought"):
                continue
            texts.append({"type": "output_text", "text": string(part["text"], f"{at}.text")})
        else:
            raise InvalidRequest(
                "A model turn may hold only text and functionCall parts.", param=at, code="unsupported_parameter"
            )
    if texts:
        items.append({"type": "message", "role": "assistant", "content": texts})
    return items


def _function_response(response: dict[str, Any], at: str, calls: _Calls) -> Body:
    name = string(response.get("name"), f"{at}.functionResponse.name")
    payload = response.get("response", {})
    if not isinstance(payload, dict):
        raise InvalidRequest("'functionResponse.response' must be an object.", param=f"{at}.functionResponse.response")
    call_id = calls.answer(response.get("id"), name, f"{at}.functionResponse")
    # Gemini's convention: the tool's output under "output" (a failure under "error"); a lone string output
    # goes up as that string, anything else as the JSON object the client sent.
    only = payload.get("output") if set(payload) == {"output"} else None
    output = only if isinstance(only, str) else msgspec.json.encode(payload).decode()
    return {"type": "function_call_output", "call_id": call_id, "output": output}


_URLSAFE = str.maketrans("-_", "+/")


def _either(blob: Body, camel: str, snake: str) -> Any:
    # Google's JSON accepts both spellings, and google-genai sends blob fields snake_case (`mime_type`).
    return blob[camel] if camel in blob else blob.get(snake)


def _inline(value: Any, at: str) -> Body:
    blob = obj(value, at)
    mime = string(_either(blob, "mimeType", "mime_type"), f"{at}.mimeType")
    data = string(blob.get("data"), f"{at}.data")
    if not data.isascii():
        raise InvalidRequest("'inlineData.data' must be base64.", param=f"{at}.data")
    # google-genai encodes bytes URL-safe (`-`, `_`), which Google accepts; a data: URL for any other upstream
    # must use the standard alphabet.
    data = data.translate(_URLSAFE)
    url = f"data:{mime};base64,{data}"
    if mime.startswith("image/"):
        return {"type": "input_image", "image_url": url}
    if mime == "application/pdf" or mime.startswith("text/"):
        return {"type": "input_file", "file_data": url, "filename": "document"}
    raise InvalidRequest(f"inlineData of type {mime[:64]!r} is not supported.", param=f"{at}.mimeType",
                         code="unsupported_parameter")


def _file_data(value: Any, at: str) -> Body:
    blob = obj(value, at)
    uri = string(_either(blob, "fileUri", "file_uri"), f"{at}.fileUri")
    mime = _either(blob, "mimeType", "mime_type") or ""
    if not uri.startswith(("https://", "http://")):
        raise InvalidRequest("Only http(s) fileUri values are supported (no Files API uploads).",
                             param=f"{at}.fileUri", code="unsupported_parameter")
    if isinstance(mime, str) and mime.startswith("image/"):
        return {"type": "input_image", "image_url": uri}
    return {"type": "input_file", "file_url": uri}


def _part_unsupported(part: dict[str, Any], at: str) -> InvalidRequest:
    kind = next(iter(part), "part")
    return InvalidRequest(f"Parts of kind {kind[:64]!r} are not supported.", param=f"{at}.{kind[:64]}",
                          code="unsupported_parameter")
