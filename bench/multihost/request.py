"""The one request body every check sends, and the usage the mock reports for it.

The mock's input tokens are what the gateway counts for INPUT (9 tokens of text + 4 of message framing,
gateway/wire/tokens.py) and the body caps the output at what the mock returns, so a request's hold equals
its charge: a balance of N charges then admits exactly N concurrent requests (burst.py checks this against
the gateway's own quote before relying on it).
"""

import json

INPUT = "The quick brown fox jumps over the lazy dog"
INPUT_TOKENS = 13
OUTPUT_TOKENS = 50
# Per 1M tokens, as decimal strings for billing.money.parse_amount.
PRICE_INPUT, PRICE_CACHED, PRICE_OUTPUT = "2.5", "1.25", "10"

MODEL = "mh-gpt"  # → /v1 on the mock
SLOW_MODEL = "mh-slow"  # → /slow/v1
FLAKY_MODEL = "mh-flaky"  # → /flaky/v1 (one host's requests fail)


def body(model: str = MODEL) -> bytes:
    return json.dumps({"model": model, "input": INPUT, "max_output_tokens": OUTPUT_TOKENS}).encode()
