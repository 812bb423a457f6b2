"""What one request costs the gateway at each door, in CPU instructions (valgrind's callgrind), against the
`/v1/responses` passthrough: a count that the machine's drift does not move.

    .venv/bin/python bench/doors_cost.py [--requests 100] [--warmup 20] [--stream off,on]
                                         [--doors responses,chat,messages,gemini] [--concurrency 1]

bench/doors.py compares req/s in one run, but on a virtual machine whose speed drifts by ±30 % within seconds
a 10 % difference needs many rounds to see. Instructions do not drift: the same worker, the same requests give
the same count to within a fraction of a percent. Here the gateway worker (uvicorn, as bench/doors.py starts it,
same nginx mock, database and channels) runs under `valgrind --tool=callgrind`; for each door and stream mode
the script sends --warmup requests, zeroes the counters (`callgrind_control -z`), sends --requests requests (one
after another, or from --concurrency clients at once: then requests share the group commit's round trips, as
under load), and dumps the counters (`callgrind_control -d`): instructions per request = the dump's total ÷
requests. Everything the worker does in that window counts, its background work (settlement, receipts, breaker
flushes) included; PostgreSQL's and Redis's share is the same statements at every door and is not counted. The
truth score's sampling, paced by the clock rather than by requests, is slowed to match the slowed worker (below).
Needs nginx, valgrind (Debian's) and the shared harness, like bench/doors.py. Results: bench/results/doors-cost-STAMP.json.
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# bench/doors.py by path, as it loads its own siblings (bench/ on sys.path would shadow packages)
_spec = importlib.util.spec_from_file_location("bench_doors", ROOT / "bench" / "doors.py")
doors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(doors)


def send(door: str, url: str, body: dict, headers: dict[str, str], stream: bool) -> None:
    """One request through bench/doors.py's own check: a failed or incomplete answer stops the run."""
    problem = doors.check_once(door, url, body, headers, stream)
    if problem:
        raise RuntimeError(problem)


def dumped_total(directory: Path, before: set[Path]) -> int:
    """The instructions (Ir) of the newest dump file callgrind wrote since `before`."""
    for _ in range(600):
        new = sorted(set(directory.glob("callgrind.out.*")) - before, key=lambda p: p.stat().st_mtime)
        if new:
            text = new[-1].read_text(errors="replace")
            found = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
            if found:
                return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError("callgrind wrote no dump")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--stream", default="off,on")
    ap.add_argument("--doors", default="responses,chat,messages,gemini")
    ap.add_argument("--port", type=int, default=8107)
    ap.add_argument("--mock-port", type=int, default=18083)
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=1)
    a = ap.parse_args()
    for tool in ("nginx", "valgrind", "callgrind_control"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (apt-get install nginx valgrind)")
    door_names = [d for d in a.doors.split(",") if d]
    streams = [{"off": False, "on": True}[s] for s in a.stream.split(",")]
    shared = Path(os.environ.get("SHARED_BENCH", ROOT.parent / "shared" / "bench"))
    sys.path.insert(0, str(shared / "mock"))
    import fixtures

    work = ROOT / "bench" / "_work" / "doors-cost"
    dumps = work / "callgrind"
    shutil.rmtree(dumps, ignore_errors=True)
    dumps.mkdir(parents=True)
    mock = f"http://127.0.0.1:{a.mock_port}"
    conf = work / "nginx" / "nginx.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(doors.doors_mock.nginx_conf(conf.parent, a.mock_port,
                                                doors.doors_mock.bodies(fixtures.bodies(a.tokens), a.tokens)))
    doors.fresh_database()
    # Work paced by the clock would weigh ~50× more per request under valgrind than at full speed: the truth score's
    # re-counting (2 samples a second per channel × model, 0.5 % of requests at 400 req/s) is paced to once in
    # 1 000 s here, so the window counts requests, not seconds.
    env = {**os.environ, "HARNMODEL_VAR_DIR": str(work / "var"), "LOG_LEVEL": "WARNING",
           "HARNMODEL_TRUTH_SAMPLES_PER_SECOND": "0.001"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    key = doors.provision_key(mock)
    procs = []
    results: dict[str, int] = {}
    try:
        procs.append(subprocess.Popen(["nginx", "-p", str(conf.parent), "-c", str(conf)]))
        gateway = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dumps}/callgrind.out.%p",
             sys.executable, "-m", "uvicorn", "harnmodel.asgi:application", "--host", "127.0.0.1",
             "--port", str(a.port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gateway)
        doors.wait_port(a.mock_port, "nginx mock")
        for _ in range(1200):  # under valgrind the worker takes a minute or two to start
            if doors.port_busy(a.port):
                break
            time.sleep(0.25)
        base = f"http://127.0.0.1:{a.port}"
        for stream in streams:
            for door in door_names:
                url, body, headers = doors.door_request(door, base, key, stream)
                for _ in range(a.warmup):
                    send(door, url, body, headers, stream)
                subprocess.run(["callgrind_control", "-z", str(gateway.pid)], check=True, capture_output=True)
                before = set(dumps.glob("callgrind.out.*"))
                with ThreadPoolExecutor(a.concurrency) as clients:
                    sent = [clients.submit(send, door, url, body, headers, stream) for _ in range(a.requests)]
                    for request in sent:
                        request.result()  # a failed answer stops the run
                time.sleep(0.5)  # the last request's settlement and receipt batch belong to this window
                subprocess.run(["callgrind_control", "-d", str(gateway.pid)], check=True, capture_output=True)
                per_request = dumped_total(dumps, before) / a.requests
                results[f"{door} stream={'on' if stream else 'off'}"] = round(per_request)
                print(f"{door:9} stream={'on' if stream else 'off':3} {per_request / 1e6:8.3f} M instructions/request",
                      flush=True)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)
    print()
    print("| door → channel | stream | M instructions / request | × responses |")
    print("|---|---|---|---|")
    for stream in streams:
        mode = f"stream={'on' if stream else 'off'}"
        base_count = results.get(f"responses {mode}")
        for door in door_names:
            count = results[f"{door} {mode}"]
            ratio = f"{count / base_count:.3f}" if base_count else "n/a"
            print(f"| {door} → {doors.doors_report.CHANNELS[door]} | {mode[7:]} | {count / 1e6:.3f} | {ratio} |")
    out = ROOT / "bench" / "results" / f"doors-cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"requests": a.requests, "warmup": a.warmup, "concurrency": a.concurrency,
                               "instructions": results}, indent=1))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
