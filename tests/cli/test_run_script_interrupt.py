"""Ctrl-C on `scripts/run 2>&1 | tee log` stops everything it started.

The terminal sends SIGINT to the whole foreground process group: the script and `tee`. `tee` dies at
once, so the script's own messages while it stops its services hit a closed pipe (SIGPIPE), and the
services themselves (each in its own session, and background jobs ignore SIGINT anyway) never see the
signal. Started here in a new session, like a terminal's foreground job, on the embedded defaults in
a temporary HARNMODEL_VAR_DIR. Slow: a cold migrate on SQLite.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_run_script import START_TIMEOUT, STOP_TIMEOUT, accepts, free_port, leftovers

REPO = Path(__file__).resolve().parents[2]


def test_ctrl_c_on_a_piped_run_stops_uvicorn_and_celery(tmp_path):
    port = free_port()
    var_dir = tmp_path / "var"
    log_path = tmp_path / "tee.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(HOST="127.0.0.1", PORT=str(port), HARNMODEL_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        ["bash", "-c", 'scripts/run 2>&1 | tee "$1" >/dev/null', "bash", str(log_path)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the "foreground job" the terminal signals
    )

    def output() -> str:
        try:
            return log_path.read_text(errors="replace")
        except OSError:
            return ""

    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (re.search(r"API key\s+sk-", output()) and accepts(port)):
            if process.poll() is not None:
                pytest.fail(f"scripts/run exited with {process.returncode}:\n{output()[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/run did not serve within {START_TIMEOUT:.0f} s:\n{output()[-6000:]}")
            time.sleep(0.2)
        services = leftovers(var_dir)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in services}
        assert any("uvicorn" in name for name in names) and any("celery" in name for name in names), names

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, tee included
        process.wait(STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT  # the script waits for its services before it exits
        while leftovers(var_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = leftovers(var_dir)
    finally:
        for pid in leftovers(var_dir):  # ours for sure: they carry this test's HARNMODEL_VAR_DIR
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes of scripts/run outlived Ctrl-C: {left}\n{output()[-3000:]}"
    assert not accepts(port), "uvicorn still listens after Ctrl-C"
