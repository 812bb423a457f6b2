"""The door doc pages' samples work as printed (issue 15): each curl body, sent with the headers the page
shows to the URL it shows, is a 200 through its door on the real server; the Python samples run as they
are with the official SDKs and print the answer; the Node samples are valid modules."""

import html
import os
import re
import shutil
import subprocess
import sys

import httpx
import pytest

from .conftest import serve

pytestmark = pytest.mark.django_db(transaction=True)
SIMULATOR_TEXT = "harnmodel 模拟器"  # its answer to a Chinese prompt
STREAM_MARKS = {"chat": "data: [DONE]", "messages": "event: message_stop", "gemini": '"usageMetadata"'}


def page_codes(gateway, door: str) -> dict[str, str]:
    """{block id: code} of the page as the real server renders it (so with its real base URL)."""
    page = httpx.get(f"{gateway.url}/docs/{door}/", timeout=30)
    assert page.status_code == 200
    blocks = re.findall(r'<pre id="([\w-]+)" tabindex="0"><code>(.*?)</code></pre>', page.text, re.DOTALL)
    return {block: html.unescape(code) for block, code in blocks}


def parse_curl(command: str) -> tuple[str, dict[str, str], str]:
    url = re.search(r"^curl (?:-N )?'([^']+)'", command)[1]
    headers = dict(h.split(": ", 1) for h in re.findall(r"--header '([^']+)'", command))
    body = re.search(r"--data '(.*)'\s*$", command, re.DOTALL)[1]
    return url, headers, body


@pytest.mark.parametrize("door, blocks", [("chat", ["curl-json", "curl-stream"]),
                                          ("messages", ["curl-json", "curl-stream", "curl-count"]),
                                          ("gemini", ["curl-json", "curl-stream"])])  # fmt: skip
def test_curl_samples_are_valid_requests(gateway, alice, fakes, door, blocks):
    serve("simulator", fakes)
    codes = page_codes(gateway, door)
    for block in blocks:
        url, headers, body = parse_curl(codes[block])
        assert url.startswith(gateway.url + "/v1")
        headers = {name: value.replace("sk-xxx", alice.key) for name, value in headers.items()}
        answer = httpx.post(url, headers=headers, content=body.encode(), timeout=30)
        assert answer.status_code == 200, (block, answer.text)
        assert answer.headers["x-request-id"]
        if block == "curl-count":
            assert answer.json()["input_tokens"] > 0
        elif block == "curl-stream":
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert STREAM_MARKS[door] in answer.text
        else:
            assert SIMULATOR_TEXT in answer.text


@pytest.mark.parametrize("door", ["chat", "messages", "gemini"])
def test_python_samples_run_as_printed(gateway, alice, fakes, door, tmp_path):
    serve("simulator", fakes)
    codes = page_codes(gateway, door)
    for block in ("py-json", "py-stream"):
        script = tmp_path / f"{door}_{block}.py"
        script.write_text(codes[block], encoding="utf-8")
        run = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "HARNMODEL_API_KEY": alice.key, "PYTHONIOENCODING": "utf-8"},
        )
        assert run.returncode == 0, (block, run.stderr[-3000:])
        assert SIMULATOR_TEXT in run.stdout, (block, run.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("door", ["chat", "messages", "gemini"])
def test_node_samples_are_valid_modules(gateway, door, tmp_path):
    codes = page_codes(gateway, door)
    for block in ("node-json", "node-stream"):
        module = tmp_path / f"{door}_{block}.mjs"
        module.write_text(codes[block], encoding="utf-8")
        check = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, (block, check.stderr)
        assert f'"{gateway.url}' in codes[block] and "process.env.HARNMODEL_API_KEY" in codes[block]
