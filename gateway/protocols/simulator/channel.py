"""A model that lives in-process: deterministic, realistic streams and usage, configurable latency.

It speaks the Responses API, so the relay treats it exactly like a passthrough upstream; only
`send` differs (no socket). For demos, tests and benchmarks; never for customers' real work.
Options (channel.options): latency_ms (before the first token), token_delay_ms (between tokens).
"""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from billing.pricing import Usage
from gateway.protocols.channel import CallContext, UpstreamRequest
from gateway.protocols.responses.channel import OpenAIResponsesAdapter
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import ResponsesRequest
from gateway.wire.tokens import count_request_tokens

_TOKEN = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|\s*[^\s\u3000-\u9fff\uff00-\uffef]{1,4}|\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")


class SimulatorAdapter(OpenAIResponsesAdapter):
    kind = "simulator"
    label = "Built-in simulator (no upstream)"
    needs_base_url = False

    async def send(self, client: httpx.AsyncClient, upstream: UpstreamRequest, ctx: CallContext) -> httpx.Response:
        request = msgspec.convert(msgspec.json.decode(upstream.body), ResponsesRequest)
        script = _script(request)
        latency = float(ctx.options.get("latency_ms", 0)) / 1000
        delay = float(ctx.options.get("token_delay_ms", 0)) / 1000
        if not ctx.stream:
            if latency:
                await asyncio.sleep(latency)
            builder = _play_all(script, request, ctx)
            return httpx.Response(
                200, headers={"content-type": "application/json"}, content=msgspec.json.encode(builder.final_object())
            )
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=_play_stream(script, request, ctx, latency, delay),
        )


class _Script:
    def __init__(self, *, text: str = "", tool: dict[str, Any] | None = None) -> None:
        self.text = text
        self.tool = tool


def _last_user_text(request: ResponsesRequest) -> str:
    if isinstance(request.input, str):
        return request.input
    for item in reversed(request.input):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or () if p.get("type") == "input_text")
    return ""


def _chosen_tool(request: ResponsesRequest) -> dict[str, Any] | None:
    tools = [t for t in request.tools or () if t.get("type") == "function"]
    choice = request.tool_choice
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = {t.get("name") for t in choice.get("tools") or ()}
        tools = [t for t in tools if t.get("name") in allowed] or tools
    return tools[0]


def _arguments(tool: dict[str, Any], prompt: str) -> str:
    schema = tool.get("parameters") or {}
    args: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and spec.get("enum"):
            args[name] = spec["enum"][0]
        elif kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = prompt[:60] or name
    return msgspec.json.encode(args).decode()


def _script(request: ResponsesRequest) -> _Script:
    prompt = _last_user_text(request).strip()
    chinese = bool(_CJK.search(prompt + (request.instructions or "")))
    last = request.input[-1] if isinstance(request.input, list) else {}
    if last.get("type") == "function_call_output":
        output = last.get("output")
        output = output if isinstance(output, str) else msgspec.json.encode(output).decode()
        if chinese:
            return _Script(text=f"工具返回了结果：{output}。根据这个结果，任务已完成。")
        return _Script(text=f"The tool returned: {output}. Based on that, the task is done.")
    tool = _chosen_tool(request)
    if tool is not None:  # deterministic: offered tools are always used
        return _Script(tool={"name": tool["name"], "arguments": _arguments(tool, prompt)})
    if chinese:
        text = (
            f"好的。关于「{prompt[:40]}」：先配置 Base URL，再填入 API Key，最后按统一协议发起请求。"
            "这是 harnmodel 模拟器生成的回答。"
        )
    else:
        text = (
            f'Sure. About "{prompt[:60]}": set the base URL, add your API key, then call the unified API. '
            "This answer comes from the harnmodel simulator."
        )
    return _Script(text=text)


def _pieces(text: str, cap: int | None) -> tuple[list[str], bool]:
    pieces = _TOKEN.findall(text)
    if cap is not None and len(pieces) > cap:
        return pieces[:cap], True
    return pieces, False


def _usage(request: ResponsesRequest, pieces: int) -> Usage:
    # One streamed piece is one token: the simulator never reports more output than it was allowed.
    return Usage(input_tokens=count_request_tokens(request), output_tokens=pieces)


def _play_all(script: _Script, request: ResponsesRequest, ctx: CallContext) -> ResponseStreamBuilder:
    builder = ResponseStreamBuilder(response_id=ctx.response_id, model=ctx.upstream_model, request=request)
    for _ in _steps(builder, script, request):
        pass
    return builder


def _steps(builder: ResponseStreamBuilder, script: _Script, request: ResponsesRequest):
    """Yields SSE bytes, one token at a time."""
    yield builder.start()
    if script.tool is not None:
        call_id = "call_" + ctx_suffix(builder.response_id)
        yield builder.tool_call_start(call_id=call_id, name=script.tool["name"])
        pieces, _ = _pieces(script.tool["arguments"], None)
        for piece in pieces:
            yield builder.tool_call_arguments(piece)
        yield builder.finish(usage=_usage(request, len(pieces) + 1))
        return
    pieces, truncated = _pieces(script.text, request.max_output_tokens)
    for piece in pieces:
        yield builder.text_delta(piece)
    yield builder.finish(
        usage=_usage(request, len(pieces)), incomplete_reason="max_output_tokens" if truncated else None
    )


def ctx_suffix(response_id: str) -> str:
    return response_id[-24:]


async def _play_stream(
    script: _Script, request: ResponsesRequest, ctx: CallContext, latency: float, delay: float
) -> AsyncIterator[bytes]:
    builder = ResponseStreamBuilder(response_id=ctx.response_id, model=ctx.upstream_model, request=request)
    if latency:
        await asyncio.sleep(latency)
    for index, chunk in enumerate(_steps(builder, script, request)):
        if delay and index > 1:
            await asyncio.sleep(delay)
        yield chunk
