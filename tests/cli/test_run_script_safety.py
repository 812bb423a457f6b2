"""`scripts/run` is safe without a proxy in front (M6) and keeps var/ private (M7), checked on the real thing:
the script started as a person starts it (embedded defaults, a temporary HARNMODEL_VAR_DIR, a free PORT).

* M7: once it serves, var/ is 0700 and nothing under it (SQLite database, -wal, -shm, secrets, logs, Celery
  broker folders, the Prometheus folder) is readable or writable by group or others; files an older run left
  0644 are fixed at start.
* M6: 4 connections each send up to 50 MB of an unfinished header. Each gets 431 (or a close) long before
  that, and the uvicorn process grows by less than 20 MB (plain httptools grew by ~197 MB).

One scripts/run for both (a cold start is slow: migrate + seed).
"""

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.test_run_script import REPO, START_TIMEOUT, STOP_TIMEOUT, accepts, free_port

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/run needs bash")

ATTACK_BYTES = 50 * 1024 * 1024
MAX_GROWTH = 20 * 1024 * 1024


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def uvicorn_pid(port: int) -> int:
    """The uvicorn process serving `port` (one worker: the server itself)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"uvicorn" in arg for arg in argv[:2]) and str(port).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no uvicorn process for port {port}")


def unfinished_header(port: int, results: list) -> None:
    """One connection: a request line, then one header whose value never ends, up to ATTACK_BYTES."""
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ")
            piece = b"a" * 65536
            while sent < ATTACK_BYTES:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the server closed the connection: what we want
        try:
            answer = sock.recv(200)
        except OSError:
            pass
    results.append((sent, answer))


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run-safety")
    var_dir = tmp / "var"
    var_dir.mkdir(mode=0o755)
    stale = var_dir / "stale.log"  # as an older run (before umask 077) left it
    stale.write_text("old")
    stale.chmod(0o644)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(HOST="127.0.0.1", PORT=str(port), HARNMODEL_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    env.pop("UVICORN_HTTP", None)  # the default is what is under test
    log_path = tmp / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run")],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (re.search(r"API key\s+sk-", log_path.read_text(errors="replace")) and accepts(port)):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scripts/run did not serve:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200  # WAL opened by now
        yield port, var_dir
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)


def test_var_and_everything_in_it_is_private(running):
    _, var_dir = running
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    shared = []
    for path in [var_dir, *var_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            shared.append(f"{oct(mode)} {path.relative_to(var_dir)}")
    names = {path.name for path in var_dir.rglob("*")}
    assert {"harnmodel.sqlite3", "secret_key", "log", "celery", "stale.log"} <= names, names
    assert not shared, shared


def test_unfinished_headers_are_refused_and_memory_stays_bounded(running):
    port, _ = running
    pid = uvicorn_pid(port)
    before = rss(pid)
    results: list = []
    threads = [threading.Thread(target=unfinished_header, args=(port, results)) for _ in range(4)]
    for thread in threads:
        thread.start()
    peak = before
    while any(thread.is_alive() for thread in threads):  # the peak: memory may be freed when connections end
        peak = max(peak, rss(pid))
        time.sleep(0.01)
    grown = peak - before
    assert len(results) == 4
    for sent, answer in results:
        assert sent < ATTACK_BYTES, "the server read 50 MB of one header"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer
    assert grown < MAX_GROWTH, f"uvicorn grew by {grown / 2**20:.1f} MB"
    # Still serving, and a normal request with ordinary headers passes.
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"x-pad": "a" * 4000}, timeout=30).status_code == 200


DJANGO_SIDE = """
import os, stat, sys
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:  # WAL mode: -wal and -shm exist while the connection is open
    cursor.execute("CREATE TABLE t (x)")
    cursor.execute("INSERT INTO t VALUES (1)")
    var = os.environ["HARNMODEL_VAR_DIR"]
    modes = {name: oct(stat.S_IMODE(os.stat(os.path.join(var, name)).st_mode)) for name in os.listdir(var)}
    modes["."] = oct(stat.S_IMODE(os.stat(var).st_mode))
    print(modes)
"""


def test_django_alone_makes_var_the_database_and_its_wal_private(tmp_path):
    """Without scripts/run (a `manage.py` by hand, umask 022): settings make var/ 0700, the secrets and the SQLite
    database 0600, and SQLite gives -wal and -shm the database's mode."""
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HARNMODEL_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="harnmodel.settings")
    done = subprocess.run(
        [sys.executable, "-c", f"import os; os.umask(0o022); exec({DJANGO_SIDE!r})"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modes = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's repr of a dict of strings
    assert {"harnmodel.sqlite3", "harnmodel.sqlite3-wal", "harnmodel.sqlite3-shm", "secret_key"} <= set(modes), modes
    assert modes.pop(".") == "0o700", modes
    assert modes.pop("celery") == "0o700", modes  # the filesystem broker's folder
    assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}, modes
