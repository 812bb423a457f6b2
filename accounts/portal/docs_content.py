"""The /v1/responses doc page as data: our published Chinese page, and the same in English.

The Chinese strings are our doc page's own words (shared/reference/doc-page-responses.md); the
English msgids say the same. Kept here, not in the template, so the tables stay readable.
"""

from django.utils.translation import gettext_lazy as _

REQUEST_EXAMPLE = """{
  "model": "gpt-4o",
  "instructions": "使用简洁中文回答。",
  "input": [
    {
      "role": "user",
      "content": [
        {
          "type": "input_text",
          "text": "总结一下接入步骤"
        }
      ]
    }
  ],
  "stream": false
}"""

RESPONSE_EXAMPLE = """{
  "id": "resp_123",
  "object": "response",
  "model": "gpt-4o",
  "status": "completed",
  "output": [
    {
      "type": "message",
      "role": "assistant",
      "content": [
        {
          "type": "output_text",
          "text": "先配置 Base URL，再填入 API Key，最后按统一协议发起请求。"
        }
      ]
    }
  ]
}"""

# (field, type, required, description, example); a leading "· " marks a nested field.
FIELDS = [
    ("model", "string", True, _("The platform's unified model ID."), '"gpt-4o"'),
    ("input", "array<object>", True, _("The input: text, or structured items such as multimodal parts."),
     '[{"role":"user","content":[{"type":"input_text","text":"总结一下接入步骤"}]}]'),
    ("· role", "string", False, _("Role of the input message."), '"user"'),
    ("· content", "array<object>", False, _("Array of input content parts."), ""),
    ("instructions", "string", False, _("System-level instructions."), '"使用简洁中文回答。"'),
    ("tools", "array<object>", False, _("Array of function tool definitions."), '[{"type":"function","name":"lookupDoc"}]'),
    ("· type", "string", False, _("Tool type."), '"function"'),
    ("· name", "string", False, _("Tool name."), '"lookupDoc"'),
    ("tool_choice", "object", False, _("Tool-calling strategy."), '{"type":"auto"}'),
    ("· type", "string", False, _("auto / required / none."), '"auto"'),
    ("· name", "string", False, _("The tool's name, when you name a specific tool."), '"lookupDoc"'),
    ("stream", "boolean", False, _("Whether to stream the response."), "false"),
    ("temperature", "number", False, _("Sampling temperature."), "0.5"),
    ("top_p", "number", False, _("Top-p sampling."), "1"),
]  # fmt: skip

MORE_FIELDS = (
    "max_output_tokens, metadata, parallel_tool_calls, text.format, user, reasoning, store, include, truncation, "
    "previous_response_id, safety_identifier, prompt_cache_key, service_tier, top_logprobs"
)

# (HTTP status, code, meaning); the first five are our doc page's table, in its order.
ERRORS = [
    ("400", "invalid_request_error",
     _("The request body is malformed, a required parameter is missing, or the JSON cannot be parsed.")),
    ("401", "invalid_auth_header",
     _("The authorization header is missing or wrong; the gateway cannot tell who is calling.")),
    ("403", "model_not_allowed", _("This API key has no permission to use this model.")),
    ("402", "insufficient_balance",
     _("Insufficient balance: the platform refused the request in its pre-check, before calling any model.")),
    ("503", "model_not_available",
     _("This model has no available route, or its upstream channels are unavailable.")),
    ("404", "model_not_found", _("No model has this ID.")),
    ("400", "unsupported_parameter",
     _("A field, input item or hosted tool this model does not accept here (see the field policy).")),
    ("400", "url_not_allowed", _("An image or file URL points at a private, local or non-http(s) address.")),
    ("413", "request_too_large", _("The request body is too large.")),
    ("429", "rate_limit_exceeded", _("A rate limit was reached; retry after the Retry-After header's seconds.")),
    ("502 / 504", "upstream_error / upstream_timeout",
     _("The upstream model failed or timed out; the message never contains its address.")),
]  # fmt: skip


def hold_limits() -> dict[str, str]:
    """The billing bounds the doc page states, from the settings in force (billing/overdraft.py, gateway/wire/tokens.py)."""
    from django.conf import settings

    from billing.money import format_amount
    from billing.overdraft import overdraft_limit_micros

    return {
        "stored": f"{settings.HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS:,}",
        "file": f"{settings.HARNMODEL_FILE_HOLD_TOKENS:,}",
        "image": f"{settings.HARNMODEL_IMAGE_HOLD_TOKENS:,}",
        "overdraft": format_amount(overdraft_limit_micros(), places=2),
    }


def tool_call_limits() -> dict[str, str]:
    """The hosted-tool call caps the doc page states (gateway/relay/field_policy.py)."""
    from django.conf import settings

    return {"default": str(settings.HARNMODEL_DEFAULT_MAX_TOOL_CALLS), "max": str(settings.HARNMODEL_MAX_TOOL_CALLS)}


def websocket_limits() -> dict[str, str]:
    """The Responses-over-WebSocket bounds the doc page states (gateway/relay/websocket.py)."""
    from django.conf import settings

    return {
        "idle": f"{settings.HARNMODEL_WS_IDLE_SECONDS:.0f}",
        "life": f"{settings.HARNMODEL_WS_MAX_SECONDS / 60:.0f}",
        "turns": f"{settings.HARNMODEL_WS_MAX_TURNS:,}",
        "frames": f"{settings.HARNMODEL_WS_MAX_FRAMES:,}",
        "pending": str(settings.HARNMODEL_WS_MAX_PENDING),
    }


def string_limits() -> dict[str, str]:
    """The string bounds the doc page states, from the settings in force (gateway/wire/limits.py)."""
    from gateway.wire.limits import max_chars

    return {kind: f"{max_chars(kind):,}" for kind in ("model", "id", "text")}


def samples(base: str) -> dict[str, str]:
    """Copy-ready code pointed at `base` (the customer's real base URL, ending in /v1)."""
    body = "\n".join("  " + line if n else line for n, line in enumerate(REQUEST_EXAMPLE.splitlines()))
    return {
        "curl_json": (
            f"curl --location --request POST '{base}/responses' \\\n"
            "  --header 'Authorization: Bearer sk-xxx' \\\n"
            "  --header 'Content-Type: application/json' \\\n"
            f"  --data '{body}'"
        ),
        "curl_stream": (
            f"curl -N '{base}/responses' \\\n"
            "  --header 'Authorization: Bearer sk-xxx' \\\n"
            "  --header 'Content-Type: application/json' \\\n"
            """  --data '{"model": "gpt-4o", "instructions": "使用简洁中文回答。", "input": "总结一下接入步骤", "stream": true}'"""
        ),
        "py_json": f'''import os
from openai import OpenAI

client = OpenAI(base_url="{base}", api_key=os.environ["HARNMODEL_API_KEY"])

response = client.responses.create(
    model="gpt-4o",
    instructions="使用简洁中文回答。",
    input=[{{"role": "user", "content": [{{"type": "input_text", "text": "总结一下接入步骤"}}]}}],
)
print(response.output_text)
print(response.usage)''',
        "py_stream": f'''import os
from openai import OpenAI

client = OpenAI(base_url="{base}", api_key=os.environ["HARNMODEL_API_KEY"])

stream = client.responses.create(model="gpt-4o", input="总结一下接入步骤", stream=True)
for event in stream:
    if event.type == "response.output_text.delta":
        print(event.delta, end="", flush=True)
    elif event.type == "response.completed":
        print("\\n", event.response.usage)''',
        "node_json": f'''import OpenAI from "openai";

const client = new OpenAI({{ baseURL: "{base}", apiKey: process.env.HARNMODEL_API_KEY }});

const response = await client.responses.create({{
  model: "gpt-4o",
  instructions: "使用简洁中文回答。",
  input: [{{ role: "user", content: [{{ type: "input_text", text: "总结一下接入步骤" }}] }}],
}});
console.log(response.output_text, response.usage);''',
        "node_stream": f'''import OpenAI from "openai";

const client = new OpenAI({{ baseURL: "{base}", apiKey: process.env.HARNMODEL_API_KEY }});

const stream = await client.responses.create({{ model: "gpt-4o", input: "总结一下接入步骤", stream: true }});
for await (const event of stream) {{
  if (event.type === "response.output_text.delta") process.stdout.write(event.delta);
  if (event.type === "response.completed") console.log("\\n", event.response.usage);
}}''',
    }
