"""Client bodies for the Messages door's request goldens (inputs only; outputs live in golden/anthropic)."""

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"

REQUESTS = {
    "minimal": {
        "headers": {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
        "body": {"model": "claude-x", "max_tokens": 256, "messages": [{"role": "user", "content": "你好 👋"}]},
    },
    "tools_thinking": {
        "headers": {
            "Authorization": "Bearer sk-test",
            "anthropic-version": "2026-10-21",
            "anthropic-beta": "interleaved-thinking-2025-05-14, fine-grained-tool-streaming-2025-05-14",
        },
        "body": {
            "model": "claude-x",
            "max_tokens": 8192,
            "system": [{"type": "text", "text": "Be brief. 简洁", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "天气? 🌦"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Need the tool. 需要工具", "signature": "EqQBCkYIBxgCKkB=="},
                        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va=="},
                        {"type": "text", "text": "Checking…"},
                        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "北京"}},
                        {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C ☀"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01B",
                            "is_error": True,
                            "content": [{"type": "text", "text": "clock broken"}],
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "input_schema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
                {
                    "name": "get_time",
                    "input_schema": {"type": "object"},
                    "strict": True,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "thinking": {"type": "enabled", "budget_tokens": 4096},
            "temperature": 1,
            "top_k": 40,
            "stop_sequences": ["\n\nHuman:", "终"],
            "metadata": {"user_id": "user-42"},
            "stream": True,
        },
    },
    "documents": {
        "headers": {"x-api-key": "sk-test"},
        "body": {
            "model": "claude-x",
            "max_tokens": 1024,
            "system": "You read documents.",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                            "title": "report.pdf",
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "纯文本 📄"},
                        },
                        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                        {"type": "image", "source": {"type": "file", "file_id": "file_011"}},
                        {"type": "text", "text": "Summarise."},
                    ],
                },
                {"role": "assistant", "content": "Sure."},
                {"role": "user", "content": "Go on"},
            ],
            "tool_choice": {"type": "none"},
            "top_p": 0.9,
            "service_tier": "standard_only",
            "output_config": {
                "effort": "high",
                "format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}},
            },
            "cache_control": {"type": "ephemeral"},
        },
    },
    "forced_tool": {
        "headers": {},
        "body": {
            "model": "claude-x",
            "max_tokens": 100.0,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "call it"}]}],
            "tools": [{"type": "custom", "name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f"},
            "thinking": {"type": "adaptive"},
            "temperature": None,
        },
    },
}

COUNT_TOKENS = {
    "headers": {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
    "body": {
        "model": "claude-x",
        "system": "Count me",
        "messages": [{"role": "user", "content": "一二三 four"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    },
}
