"""`scripts/run`, the README's first command, started for real: migrate, seed, Celery worker+beat, uvicorn.

It runs on the embedded defaults (SQLite, filesystem broker) in a temporary HARNMODEL_VAR_DIR, on a free PORT,
with DATABASE_URL / REDIS_URL removed from its environment, so it never touches var/'s database or the test
run's database. Then the README's two curl bodies (JSON, then streaming, Chinese instructions and input) are sent
with the API key the script printed, and the script is stopped with SIGTERM as Ctrl-C would: it must end its
services and exit. Slow (a cold migrate on SQLite), hence the generous deadlines.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0  # migrate from scratch + seed + Celery + uvicorn, on a busy 2-core machine
STOP_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/run needs bash")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readme_bodies() -> list[dict]:
    """The JSON bodies of the README's curl examples ("Two commands"), in order: JSON, then streaming."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    bodies = [json.loads(m) for m in re.findall(r"(?:--data|-d) '(\{.*?\})'", section, flags=re.S)]
    assert len(bodies) == 2, "the README's curl examples changed shape; update this test"
    return bodies


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_scripts_run_serves_the_readme_examples(tmp_path):
    json_body, stream_body = readme_bodies()
    assert json_body["stream"] is False and stream_body["stream"] is True
    assert json_body["instructions"] == stream_body["instructions"] == "使用简洁中文回答。"

    port = free_port()
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(HOST="127.0.0.1", PORT=str(port), HARNMODEL_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run")],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can always clean up after it
        )

    def output() -> str:
        return log_path.read_text(errors="replace")

    try:
        deadline = time.monotonic() + START_TIMEOUT
        key = None
        while not (key and accepts(port)):
            if process.poll() is not None:
                pytest.fail(f"scripts/run exited with {process.returncode}:\n{output()[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/run did not serve within {START_TIMEOUT:.0f} s:\n{output()[-6000:]}")
            found = re.search(r"API key\s+(sk-\S+)", output())
            key = found.group(1) if found else None
            time.sleep(0.2)

        text = output()
        assert f"http://127.0.0.1:{port}/v1" in text
        assert (var_dir / "demo_api_key").read_text().strip() == key  # what the README's `cat var/demo_api_key` reads
        assert (var_dir / "harnmodel.sqlite3").exists()

        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{port}/v1/responses"
        with httpx.Client(timeout=60) as client:
            answer = client.post(url, headers=headers, content=json.dumps(json_body, ensure_ascii=False).encode())
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("application/json")
            response = answer.json()
            assert response["object"] == "response" and response["status"] == "completed"
            assert response["model"] == "gpt-4o" and response["id"].startswith("resp_")
            [message] = response["output"]
            assert message["type"] == "message" and message["role"] == "assistant"
            assert message["content"][0]["type"] == "output_text" and message["content"][0]["text"].strip()
            usage = response["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0

            with client.stream(
                "POST", url, headers=headers, content=json.dumps(stream_body, ensure_ascii=False).encode()
            ) as streamed:
                assert streamed.status_code == 200
                assert streamed.headers["content-type"].startswith("text/event-stream")
                raw = streamed.read().decode("utf-8")
        events = [
            json.loads(line[len("data: ") :]) for line in raw.split("\n") if line.startswith("data: ")
        ]  # fmt: skip
        assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
        assert events[-1]["type"] == "response.completed"
        final = events[-1]["response"]
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert deltas and deltas == final["output"][0]["content"][0]["text"]
        assert final["usage"]["output_tokens"] > 0
        assert "[DONE]" not in raw
    finally:
        stop(process, output)
        left = leftovers(var_dir)
        for pid in left:  # ours for sure: they carry this test's HARNMODEL_VAR_DIR
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"processes of scripts/run outlived it: {left}"
    assert not accepts(port), "uvicorn still listens after scripts/run stopped"


def leftovers(var_dir: Path) -> list[int]:
    """Processes started by this test's scripts/run (Celery, uvicorn and their children), found by their env."""
    marker = f"HARNMODEL_VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop(process: subprocess.Popen, output) -> None:
    """SIGTERM to the script, as a service manager would; it stops its services itself. Whatever is left of
    our own process group after the deadline is killed, so a failing test never leaves processes behind."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            pytest.fail(f"scripts/run did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM:\n{output()[-4000:]}")
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers in our group, if any
    except ProcessLookupError:
        pass
    assert process.returncode in (0, 143, -signal.SIGTERM), f"exit {process.returncode}:\n{output()[-4000:]}"
