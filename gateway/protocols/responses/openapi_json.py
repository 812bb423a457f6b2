"""Building blocks of the OpenAPI document's JSON Schemas, shared by its request and response halves."""

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def enum_of(values: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(values)}


def upstream(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": f"{description} Checked by the upstream, not by the gateway."}
