"""harnmodel/http_protocol.py on a real uvicorn (subprocess, real sockets), with small limits so the edges are cheap
to reach: 1024 head bytes, 10 headers. Heads over either get 431 and a close; heads under them are served,
including when the body (or the next pipelined request) arrives in the same read as the head.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.cli.test_run_script import REPO, free_port

PROTOCOL = "harnmodel.http_protocol:BoundedHttpToolsProtocol"


async def echo(scope, receive, send):
    """ASGI: answers `<body bytes> <header count>`."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = f"{size} {len(scope['headers'])}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port():
    port = free_port()
    env = dict(os.environ, HARNMODEL_MAX_HEADER_BYTES="1024", HARNMODEL_MAX_HEADERS="10")
    argv = [sys.executable, "-m", "uvicorn", "tests.cli.test_http_protocol:echo", "--port", str(port)]
    process = subprocess.Popen([*argv, "--http", PROTOCOL, "--loop", "uvloop"], cwd=REPO, env=env)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def exchange(port: int, data: bytes, answers: int = 1) -> bytes:
    """Send `data` in one write; read until `answers` responses came or the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        got = b""
        while got.count(b"HTTP/1.1 ") < answers or not got.endswith((b" 1", b" 2", b" 3", b" 4", b"large.\r\n")):
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        return got


def head(pad: int, headers: int = 1, body: int = 0) -> bytes:
    lines = [b"POST / HTTP/1.1", b"Host: x", b"Content-Length: %d" % body]
    lines += [b"X-%d: v" % i for i in range(headers - 3)] if headers > 3 else []
    lines.append(b"X-Pad: " + b"a" * pad)
    return b"\r\n".join(lines) + b"\r\n\r\n" + b"b" * body


def test_a_head_under_the_limit_with_its_body_in_the_same_read_is_served(port):
    answer = exchange(port, head(900, body=100_000))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"100000 3"), answer[-200:]


def test_a_head_over_the_limit_gets_431_and_a_close(port):
    answer = exchange(port, head(2000))
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_a_header_that_never_ends_is_cut_at_the_limit(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with pytest.raises(OSError):
            while sent < 20 * 1024 * 1024:
                sock.sendall(b"a" * 4096)
                sent += 4096
    assert sent < 20 * 1024 * 1024


def test_too_many_headers_get_431(port):
    answer = exchange(port, head(10, headers=12))
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_the_count_starts_afresh_for_each_request_on_a_connection(port):
    one = head(800)  # two of these exceed 1024 together, not alone
    answer = exchange(port, one + one + one, answers=3)
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer
