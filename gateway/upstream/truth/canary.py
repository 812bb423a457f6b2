"""The canaries: three deterministic requests at temperature 0 whose answers say which model answered.

* "short": a short free-text answer. Two models rarely word it the same; a model answers it alike twice.
* "tool": a tool round trip. The call (name and arguments) must equal the reference's; then the tool's
  result goes back and the final answer is compared like "short".
* "schema": an answer under a strict JSON schema: it must be valid, and equal to the reference's.

An answer is compared with the reference answer a trusted channel gave (references.py records it):
`compare` returns "match" or "drift" with the reason. Text is compared after normalisation (case, spacing,
trailing punctuation), and words alike at HARNMODEL_TRUTH_TEXT_SIMILARITY (Jaccard of word sets) count as
a match: real upstreams are not bit-for-bit deterministic at temperature 0, but a substitute model answers
in other words.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

CANARIES = ("short", "tool", "schema")
MAX_OUTPUT_TOKENS = 200
SHORT_PROMPT = "In one short sentence, what is a lighthouse for?"
TOOL_PROMPT = "What is the weather in Paris right now, in celsius? Use the get_weather tool."
TOOL_RESULT = '{"temperature": 18, "unit": "celsius", "sky": "cloudy"}'
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
SCHEMA_PROMPT = "Name the capital of France and the number of letters in its name."
SCHEMA = {
    "type": "object",
    "properties": {"capital": {"type": "string"}, "letters": {"type": "integer"}},
    "required": ["capital", "letters"],
    "additionalProperties": False,
}


def _base(text: Any) -> dict:
    return {"input": text, "temperature": 0, "max_output_tokens": MAX_OUTPUT_TOKENS, "stream": False, "store": False}


def short_request() -> dict:
    return _base(SHORT_PROMPT)


def tool_call_request() -> dict:
    return {**_base(TOOL_PROMPT), "tools": [TOOL], "tool_choice": "required"}


def tool_result_request(call: dict) -> dict:
    """The second turn: the call the channel made, and our tool's result."""
    items = [
        {"type": "message", "role": "user", "content": TOOL_PROMPT},
        {"type": "function_call", "call_id": call["call_id"], "name": call["name"], "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": TOOL_RESULT},
    ]
    return {**_base(items), "tools": [TOOL]}


def schema_request() -> dict:
    fmt = {"type": "json_schema", "name": "capital", "schema": SCHEMA, "strict": True}
    return {**_base(SCHEMA_PROMPT), "text": {"format": fmt}}


def output_text(body: dict) -> str:
    return "".join(
        part.get("text") or ""
        for item in body.get("output") or ()
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


def function_call(body: dict) -> dict | None:
    for item in body.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "function_call":
            return item
    return None


def parse_arguments(text: str) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return {"_unparseable": text[:200]}


def schema_errors(value: Any, schema: dict = SCHEMA) -> list[str]:
    """Our canary schema's rules only (object, required, no extras, string/integer): enough for our own schema."""
    if not isinstance(value, dict):
        return ["not a JSON object"]
    errors = [f"missing {name}" for name in schema["required"] if name not in value]
    errors += [f"unexpected {name}" for name in value if name not in schema["properties"]]
    for name, rule in schema["properties"].items():
        if name in value:
            kind = rule["type"]
            ok = isinstance(value[name], str) if kind == "string" else (
                isinstance(value[name], int) and not isinstance(value[name], bool)
            )
            if not ok:
                errors.append(f"{name} is not a{'n' if kind == 'integer' else ''} {kind}")
    return errors


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().strip(".!。！").strip().lower()


def similarity(a: str, b: str) -> float:
    """1.0 for the same normalised text; else the Jaccard similarity of their word sets."""
    if normalise(a) == normalise(b):
        return 1.0
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # "match" | "drift"
    detail: str = ""


def _text_verdict(reference: str, answer: str, what: str) -> Verdict:
    score = similarity(reference, answer)
    if score >= settings.HARNMODEL_TRUTH_TEXT_SIMILARITY:
        return Verdict("match")
    return Verdict("drift", f"{what} differs from the reference (similarity {score:.2f})")


def compare(canary: str, reference: dict, answer: dict) -> Verdict:
    """An answer against the reference answer of the same canary (both as `answer_of` built them)."""
    if canary == "short":
        return _text_verdict(reference.get("text", ""), answer.get("text", ""), "the answer")
    if canary == "tool":
        if answer.get("call") is None:
            return Verdict("drift", "no tool call")
        if answer["call"] != reference.get("call"):
            return Verdict("drift", f"tool call {json.dumps(answer['call'], ensure_ascii=False)[:200]} "
                                    "differs from the reference")  # fmt: skip
        return _text_verdict(reference.get("final", ""), answer.get("final", ""), "the answer after the tool")
    if canary == "schema":
        if answer.get("errors"):
            return Verdict("drift", "invalid under the schema: " + "; ".join(answer["errors"])[:200])
        if answer.get("value") != reference.get("value"):
            return Verdict("drift", "the structured answer differs from the reference")
        return Verdict("match")
    raise ValueError(f"unknown canary {canary!r}")
