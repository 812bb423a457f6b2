"""What the fast-failure and hot-wallet benches share: the nginx mock, a gateway, wrk runs with CPU sampled.

The gateway is uvicorn as bench/run starts it (uvloop, httptools, no access log, WARNING logs); wrk sends
one body with keys rotated from a file (bench/lua/keys.lua) and every status is counted.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import procstat

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
HARNESS = WORK / "harness"
LUA = ROOT / "bench" / "lua" / "keys.lua"


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_mock(port: int) -> None:
    """The shared harness's static nginx mock on `port` (copied to bench/_work/harness, as bench/run does)."""
    if not port_free(port):
        sys.exit(f"port {port} is already in use: pick another --mock-port")
    # ../shared/bench beside the project (as bench/run), or beside a folder above it (a git worktree)
    found = [p / "shared" / "bench" for p in ROOT.parents if (p / "shared" / "bench").is_dir()]
    shared = Path(os.environ.get("SHARED_BENCH") or (found[0] if found else ROOT.parent / "shared" / "bench"))
    if not HARNESS.exists():
        shutil.copytree(shared, HARNESS)
    env = {**os.environ, "MOCK_PORT": str(port), "PYTHON": sys.executable}
    subprocess.run(["bash", "mock/nginx.sh", "start"], cwd=HARNESS, env=env, check=True, capture_output=True)


def mock_pids() -> list[int]:
    """Our nginx mock's master and workers."""
    master = HARNESS / "_work" / "nginx" / "master.pid"
    return procstat.tree(int(master.read_text())) if master.exists() else []


def stop_mock() -> None:
    subprocess.run(["bash", "mock/nginx.sh", "stop"], cwd=HARNESS, check=False, capture_output=True)


def start_gateway(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    if not port_free(port):
        sys.exit(f"port {port} is already in use: pick another --port")
    cmd = [sys.executable, "-m", "uvicorn", "harnmodel.asgi:application", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning"]
    process = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "LOG_LEVEL": "WARNING", **env})
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=1).read()
            return process
        except OSError:
            if process.poll() is not None:
                sys.exit("the gateway exited before it answered")
            time.sleep(0.1)
    process.terminate()
    sys.exit("the gateway did not answer within 20 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk(url: str, body: dict, keys: list[str], concurrency: int, seconds: int, threads: int = 2) -> dict:
    """One wrk run (bench/lua/keys.lua): its WRKJSON line as a dict."""
    WORK.mkdir(parents=True, exist_ok=True)
    body_file, keys_file = WORK / f"body-{os.getpid()}.json", WORK / f"keys-{os.getpid()}.txt"
    body_file.write_text(json.dumps(body))
    keys_file.write_text("\n".join(keys) + "\n")
    cmd = ["wrk", f"-t{min(threads, concurrency)}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
           "-s", str(LUA), url, "--", str(body_file), str(keys_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def measured(url: str, body: dict, keys: list[str], concurrency: int, seconds: int, groups: dict[str, list[int]],
             warmup: int = 2) -> dict:
    """A warm-up run, then a measured one with the CPU of `groups` (name → pids) read before and after."""
    if warmup:
        wrk(url, body, keys, concurrency, warmup)
    sampler = procstat.Sampler(groups)
    load_before = procstat.loadavg()
    sampler.start()
    started = time.perf_counter()
    result = wrk(url, body, keys, concurrency, seconds)
    elapsed = time.perf_counter() - started
    cpu = sampler.stop()
    requests = max(result["requests"], 1)
    row = {"requests": result["requests"], "rps": round(result["requests"] / elapsed, 1),
           "statuses": result["statuses"], "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
           "socket_errors": result["err_connect"] + result["err_read"] + result["err_write"] + result["err_timeout"],
           "load_before": load_before, "load_after": procstat.loadavg(), "seconds": round(elapsed, 2)}
    for name, seconds_used in cpu.items():
        row[f"{name}_ms_per_req"] = round(1000 * seconds_used / requests, 4)
    row["machine_cores"] = round(cpu["machine"] / elapsed, 2)
    return row


def pid_of(name: str) -> list[int]:
    """Pids whose command name is `name` (e.g. redis-server), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
