"""Write the nginx config of the multi-host rig's upstream mock; print its path.

One static OpenAI Responses answer with a fixed usage (INPUT_TOKENS in, OUTPUT_TOKENS out), on the bridge
address so every host's namespace reaches it. Three paths, each a channel's base URL + /responses:
  /v1/responses         the answer at once
  /slow/v1/responses    the same answer sent at SLOW_BYTES_PER_SECOND, so requests are still in flight
                        when a host is killed (bench/multihost/kill.py)
  /flaky/v1/responses   a 500 for requests from FLAKY_FROM (one host's address), the answer for the others:
                        a breaker only that host can trip (bench/multihost/breaker.py)
nginx cannot branch on the body; it answers every POST with the file (405 → `error_page 405 =200`).

usage: mock.py PREFIX --listen 10.77.0.1:18090 --flaky-from 10.77.0.11
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nginx_head import head  # noqa: E402
from request import INPUT_TOKENS, OUTPUT_TOKENS  # noqa: E402

SLOW_BYTES_PER_SECOND = 400
WORDS = "every host of the gateway reads one wallet and charges each answer exactly once".split()


def response_body() -> str:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(OUTPUT_TOKENS))
    message = {"id": "msg_mh0001", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    usage = {"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}
    body = {"id": "resp_mh0001", "object": "response", "created_at": 1700000000, "status": "completed",
            "error": None, "incomplete_details": None, "model": "gpt-4o", "output": [message], "usage": usage}
    out = json.dumps(body, separators=(",", ":"))
    if "$" in out:
        raise ValueError("nginx would read '$' as a variable")
    return out


def nginx_conf(prefix: Path, listen: str, flaky_from: str) -> str:
    html = prefix / "html"
    for sub in ("html", "logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (html / "response.json").write_text(response_body())
    fail = '{"error":{"message":"mock: this host is refused","type":"server_error"}}'
    serve = f"default_type application/json; alias {html}/response.json;"
    return head(prefix) + f"""    server_tokens off;
    server {{
        listen {listen} reuseport backlog=4096;
        location = /v1/responses {{ {serve} error_page 405 =200 /v1/responses; }}
        location = /slow/v1/responses {{ {serve} limit_rate {SLOW_BYTES_PER_SECOND};
            error_page 405 =200 /slow/v1/responses; }}
        location = /flaky/v1/responses {{
            if ($remote_addr = {flaky_from}) {{ return 500 '{fail}'; }}
            {serve} error_page 405 =200 /flaky/v1/responses; }}
        location / {{ default_type application/json; return 404 '{{"error":{{"message":"mock: unknown path"}}}}'; }}
    }}
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--listen", required=True, help="address:port on the bridge")
    parser.add_argument("--flaky-from", required=True, help="the one host address /flaky refuses")
    args = parser.parse_args()
    conf = args.prefix / "nginx.conf"
    conf.write_text(nginx_conf(args.prefix.resolve(), args.listen, args.flaky_from))
    print(conf)


if __name__ == "__main__":
    main()
