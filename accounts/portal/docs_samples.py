"""Copy-ready samples for the client-door doc pages (docs_doors.py): curl, Python and Node with the
official SDKs, JSON and streaming, pointed at the customer's real base URL.

The curl bodies are the `BODIES` below, written out as JSON, so a test can send exactly what the page shows.
"""

import json

SYSTEM = "使用简洁中文回答。"
PROMPT = "总结一下接入步骤"
MODEL = "gpt-4o"

# The request body of each sample, by (door, sample).
BODIES = {
    ("chat", "json"): {
        "model": MODEL,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
    },
    ("chat", "stream"): {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    ("messages", "json"): {
        "model": MODEL,
        "max_tokens": 1024,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
    },
    ("messages", "stream"): {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
    },
    ("messages", "count"): {"model": MODEL, "system": SYSTEM, "messages": [{"role": "user", "content": PROMPT}]},
    ("gemini", "json"): {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": 1024},
    },
    ("gemini", "stream"): {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
}


def body_text(door: str, sample: str) -> str:
    return json.dumps(BODIES[(door, sample)], ensure_ascii=False, indent=2)


def _curl(url: str, headers: list[str], body: str, *, stream: bool = False) -> str:
    lines = [f"curl {'-N ' if stream else ''}'{url}'"] + [f"  --header '{h}'" for h in headers]
    indented = "\n".join("  " + line if n else line for n, line in enumerate(body.splitlines()))
    lines.append(f"  --data '{indented}'")
    return " \\\n".join(lines)


JSON_HEADER = "Content-Type: application/json"


def chat(base: str) -> dict[str, str]:
    """`base` ends in /v1 (the OpenAI SDKs' base URL)."""
    auth = ["Authorization: Bearer sk-xxx", JSON_HEADER]
    client = f'client = OpenAI(base_url="{base}", api_key=os.environ["HARNMODEL_API_KEY"])'
    node_client = f'const client = new OpenAI({{ baseURL: "{base}", apiKey: process.env.HARNMODEL_API_KEY }});'
    return {
        "curl_json": _curl(f"{base}/chat/completions", auth, body_text("chat", "json")),
        "curl_stream": _curl(f"{base}/chat/completions", auth, body_text("chat", "stream"), stream=True),
        "py_json": f'''import os
from openai import OpenAI

{client}

completion = client.chat.completions.create(
    model="{MODEL}",
    messages=[{{"role": "system", "content": "{SYSTEM}"}}, {{"role": "user", "content": "{PROMPT}"}}],
)
print(completion.choices[0].message.content)
print(completion.usage)''',
        "py_stream": f'''import os
from openai import OpenAI

{client}

stream = client.chat.completions.create(
    model="{MODEL}",
    messages=[{{"role": "user", "content": "{PROMPT}"}}],
    stream=True,
    stream_options={{"include_usage": True}},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
    if chunk.usage:
        print("\\n", chunk.usage)''',
        "node_json": f'''import OpenAI from "openai";

{node_client}

const completion = await client.chat.completions.create({{
  model: "{MODEL}",
  messages: [{{ role: "system", content: "{SYSTEM}" }}, {{ role: "user", content: "{PROMPT}" }}],
}});
console.log(completion.choices[0].message.content, completion.usage);''',
        "node_stream": f'''import OpenAI from "openai";

{node_client}

const stream = await client.chat.completions.create({{
  model: "{MODEL}",
  messages: [{{ role: "user", content: "{PROMPT}" }}],
  stream: true,
  stream_options: {{ include_usage: true }},
}});
for await (const chunk of stream) {{
  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
  if (chunk.usage) console.log("\\n", chunk.usage);
}}''',
    }


def messages(origin: str) -> dict[str, str]:
    """`origin` has no /v1: the Anthropic SDKs add /v1/messages themselves."""
    auth = ["x-api-key: sk-xxx", "anthropic-version: 2023-06-01", JSON_HEADER]
    client = f'client = anthropic.Anthropic(base_url="{origin}", api_key=os.environ["HARNMODEL_API_KEY"])'
    node_client = f'const client = new Anthropic({{ baseURL: "{origin}", apiKey: process.env.HARNMODEL_API_KEY }});'
    return {
        "curl_json": _curl(f"{origin}/v1/messages", auth, body_text("messages", "json")),
        "curl_stream": _curl(f"{origin}/v1/messages", auth, body_text("messages", "stream"), stream=True),
        "curl_count": _curl(f"{origin}/v1/messages/count_tokens", auth, body_text("messages", "count")),
        "py_json": f'''import os

import anthropic

{client}

message = client.messages.create(
    model="{MODEL}",
    max_tokens=1024,
    system="{SYSTEM}",
    messages=[{{"role": "user", "content": "{PROMPT}"}}],
)
print(message.content[0].text)
print(message.usage)
print(client.messages.count_tokens(model="{MODEL}", messages=[{{"role": "user", "content": "{PROMPT}"}}]))''',
        "py_stream": f'''import os

import anthropic

{client}

with client.messages.stream(
    model="{MODEL}", max_tokens=1024, messages=[{{"role": "user", "content": "{PROMPT}"}}]
) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
    print("\\n", stream.get_final_message().usage)''',
        "node_json": f'''import Anthropic from "@anthropic-ai/sdk";

{node_client}

const message = await client.messages.create({{
  model: "{MODEL}",
  max_tokens: 1024,
  system: "{SYSTEM}",
  messages: [{{ role: "user", content: "{PROMPT}" }}],
}});
console.log(message.content[0].text, message.usage);''',
        "node_stream": f'''import Anthropic from "@anthropic-ai/sdk";

{node_client}

const stream = client.messages.stream({{
  model: "{MODEL}",
  max_tokens: 1024,
  messages: [{{ role: "user", content: "{PROMPT}" }}],
}});
stream.on("text", (text) => process.stdout.write(text));
console.log("\\n", (await stream.finalMessage()).usage);''',
    }


def gemini(origin: str) -> dict[str, str]:
    """`origin` has no /v1beta: google-genai adds the API version itself."""
    auth = ["x-goog-api-key: sk-xxx", JSON_HEADER]
    client = (
        'client = genai.Client(api_key=os.environ["HARNMODEL_API_KEY"], '
        f'http_options=types.HttpOptions(base_url="{origin}"))'
    )
    node_client = f'const ai = new GoogleGenAI({{ apiKey: process.env.HARNMODEL_API_KEY, httpOptions: {{ baseUrl: "{origin}" }} }});'
    url = f"{origin}/v1beta/models/{MODEL}"
    return {
        "curl_json": _curl(f"{url}:generateContent", auth, body_text("gemini", "json")),
        "curl_stream": _curl(f"{url}:streamGenerateContent?alt=sse", auth, body_text("gemini", "stream"), stream=True),
        "py_json": f'''import os

from google import genai
from google.genai import types

{client}

response = client.models.generate_content(
    model="{MODEL}",
    contents="{PROMPT}",
    config=types.GenerateContentConfig(system_instruction="{SYSTEM}", max_output_tokens=1024),
)
print(response.text)
print(response.usage_metadata)''',
        "py_stream": f'''import os

from google import genai
from google.genai import types

{client}

usage = None
for chunk in client.models.generate_content_stream(model="{MODEL}", contents="{PROMPT}"):
    print(chunk.text or "", end="", flush=True)
    if chunk.usage_metadata:
        usage = chunk.usage_metadata
print("\\n", usage)''',
        "node_json": f'''import {{ GoogleGenAI }} from "@google/genai";

{node_client}

const response = await ai.models.generateContent({{
  model: "{MODEL}",
  contents: "{PROMPT}",
  config: {{ systemInstruction: "{SYSTEM}", maxOutputTokens: 1024 }},
}});
console.log(response.text, response.usageMetadata);''',
        "node_stream": f'''import {{ GoogleGenAI }} from "@google/genai";

{node_client}

const stream = await ai.models.generateContentStream({{ model: "{MODEL}", contents: "{PROMPT}" }});
for await (const chunk of stream) process.stdout.write(chunk.text ?? "");''',
    }


def agents(base: str, origin: str) -> dict[str, str]:
    """Coding agents pointed at us: Claude Code (Messages), Gemini CLI (Gemini), Codex (Responses)."""
    return {
        "claude_code": f"""export ANTHROPIC_BASE_URL="{origin}"
export ANTHROPIC_AUTH_TOKEN="sk-xxx"   # sent as Authorization: Bearer; ANTHROPIC_API_KEY (x-api-key) works too
claude --model {MODEL}""",
        "gemini_cli": f"""export GOOGLE_GEMINI_BASE_URL="{origin}"
export GEMINI_API_KEY="sk-xxx"
gemini --model {MODEL}""",
        "codex": f"""# ~/.codex/config.toml
model = "{MODEL}"
model_provider = "harnmodel"

[model_providers.harnmodel]
name = "harnmodel"
base_url = "{base}"
env_key = "HARNMODEL_API_KEY"
wire_api = "responses"

# then, in the shell that runs codex:
# export HARNMODEL_API_KEY="sk-xxx\"""",
    }
