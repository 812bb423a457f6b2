"""Rewrite the Messages door's golden fixtures from the current code (review the diff before keeping it):

DJANGO_SETTINGS_MODULE=harnmodel.settings .venv/bin/python -m tests.protocols.anthropic_golden
"""

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "anthropic"


def _dump(name: str, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    (GOLDEN / f"{name}.json").write_text(text, encoding="utf-8")


def write() -> None:
    from gateway.protocols.anthropic.door import MessagesDoor
    from gateway.protocols.anthropic.request import parse_count_tokens
    from gateway.protocols.door import DoorRequest

    from .anthropic_requests import COUNT_TOKENS, REQUESTS
    from .anthropic_scenarios import SCENARIOS

    door = MessagesDoor()
    for name, case in REQUESTS.items():
        parsed = door.parse(case["body"], headers=case["headers"])
        _dump(
            f"request_{name}",
            {"internal": parsed.body, "stream": parsed.stream, "model": parsed.model, "extras": parsed.extras},
        )
    parsed = parse_count_tokens(COUNT_TOKENS["body"], COUNT_TOKENS["headers"])
    _dump(
        "request_count_tokens",
        {"internal": parsed.body, "stream": parsed.stream, "model": parsed.model, "extras": parsed.extras},
    )
    request = DoorRequest(body={}, stream=True, model="claude-x")
    for name, make in SCENARIOS.items():
        events, final = make()
        renderer = door.stream_renderer(request)
        raw = b"".join(renderer.feed(kind, data) for kind, data in events) + renderer.close()
        _dump(f"stream_{name}", {"events": [[kind, data] for kind, data in events], "stream": raw.decode("utf-8")})
        if name != "failed":
            _dump(f"response_{name}", {"response": final, "message": door.render_json(final, request)})


if __name__ == "__main__":
    import django

    django.setup()
    write()
