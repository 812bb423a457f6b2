"""Door benchmark: every client door against the `/v1/responses` passthrough, interleaved in one run.

    .venv/bin/python bench/doors.py [--duration 5] [--repeat 3] [--concurrency 1,16] [--stream off,on]
                                    [--doors responses,chat,messages,gemini] [--profile 16]
    .venv/bin/python bench/doors.py --pairs 8 --slice 2 [...]   # the paired mode (below)

One gateway worker (uvicorn, uvloop + httptools as bench/run) on PostgreSQL (DATABASE_URL, default a fresh
local `harnmodel_bench_doors` database) and Redis when REDIS_URL is set, in front of a static nginx mock that
speaks all four upstream protocols (bench/doors_mock.py). Each door goes through the channel of its own
protocol: responses → openai_responses (passthrough), chat → openai_chat, messages → anthropic,
gemini → gemini. Repeats are outermost; within a repeat, for every (stream, concurrency) point the doors run
back to back in an order that rotates each repeat, each after a 2 s wrk warm-up, so drift of the shared
machine hits every door alike. On a virtual machine whose speed drifts by more than the 10 % being judged
within seconds, `--pairs N` measures instead in N short rounds per point, each in a mirrored order (the
passthrough, then every door, then the doors again in reverse, then the passthrough: `--slice` seconds each),
and judges each door by the median over rounds of its req/s over the passthrough's in the same round. The table (bench/doors_report.py) shows medians; raw runs go to
bench/results/doors-STAMP.jsonl. `--profile C` then records each door with py-spy (if installed) at
concurrency C, for --profile-seconds, and prints where the time goes. Needs nginx and wrk (bench/run installs
them) and the shared harness (SHARED_BENCH, default ../shared/bench) for its wrk script and OpenAI bodies.
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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sibling(name: str):
    """bench/<name>.py, loaded by path: bench/ on sys.path would shadow packages (bench/websocket.py)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


doors_mock = _sibling("doors_mock")
doors_report = _sibling("doors_report")

PROMPT = "Say hello in one short sentence."
CLK_TCK = os.sysconf("SC_CLK_TCK")


def routes(mock: str) -> dict[str, tuple[str, str]]:
    """public model → (channel kind, base URL): a non-stream and a stream model per door (nginx can't branch)."""
    out = {}
    for door, (kind, version) in {"responses": ("openai_responses", "v1"), "chat": ("openai_chat", "v1"),
                                  "messages": ("anthropic", "v1"), "gemini": ("gemini", "v1beta")}.items():
        out[f"doors-{door}"] = (kind, f"{mock}/{version}")
        out[f"doors-{door}-stream"] = (kind, f"{mock}/stream/{version}")
    return out


def door_request(door: str, base: str, key: str, stream: bool) -> tuple[str, dict, dict[str, str]]:
    """(URL, body, headers) of one request through `door`, with that door's own way to send the key."""
    model = f"doors-{door}" + ("-stream" if stream else "")
    if door == "responses":
        return f"{base}/v1/responses", {"model": model, "input": PROMPT, "stream": stream}, \
            {"Authorization": f"Bearer {key}"}
    if door == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return f"{base}/v1/chat/completions", body, {"Authorization": f"Bearer {key}"}
    if door == "messages":
        body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
        return f"{base}/v1/messages", body, {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if door == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        return f"{base}/v1beta/models/{model}:{method}", body, {"x-goog-api-key": key}
    raise ValueError(f"unknown door {door!r}")


STREAM_END = {"responses": "response.completed", "chat": "[DONE]", "messages": "message_stop",
              "gemini": '"finishReason"'}
JSON_USAGE = {"responses": "usage", "chat": "usage", "messages": "usage", "gemini": "usageMetadata"}


def check_once(door: str, url: str, body: dict, headers: dict[str, str], stream: bool) -> str | None:
    """None when one request through the door answers 200 with usage (JSON) or a complete stream."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode("utf-8", "replace")
    except Exception as error:  # noqa: BLE001 — any failure is reported, the run stops
        detail = error.read().decode("utf-8", "replace")[:300] if hasattr(error, "read") else ""
        return f"{door}: {url}: {error} {detail}"
    if stream:
        return None if STREAM_END[door] in text else f"{door}: incomplete stream: {text[-300:]!r}"
    return None if JSON_USAGE[door] in json.loads(text) else f"{door}: no usage in {text[:300]!r}"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def run_wrk(lua: Path, url: str, body_file: Path, headers: dict[str, str], conc: int, seconds: int) -> dict:
    cmd = ["wrk", f"-t{1 if conc == 1 else 2}", f"-c{conc}", f"-d{seconds}s", "--timeout", "30s", "--latency",
           "-s", str(lua), url, "--", str(body_file)] + [f"{k}: {v}" for k, v in headers.items()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"^WRKJSON (.*)$", done.stdout, re.M)
    if not found:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    w = json.loads(found.group(1))
    errors = w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"]
    return {"rps": (w["requests"] - w["err_status"]) / (w["duration_us"] / 1e6), "requests": w["requests"],
            "errors": errors, "p50": w["p50_us"] / 1e3, "p90": w["p90_us"] / 1e3, "p99": w["p99_us"] / 1e3}


def wait_port(port: int, what: str) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # something answers HTTP
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up on port {port}")


def port_busy(port: int) -> bool:
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def fresh_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "DROP DATABASE IF EXISTS harnmodel_bench_doors",
                    "-c", "CREATE DATABASE harnmodel_bench_doors"], check=True, capture_output=True,
                   env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/harnmodel_bench_doors"


def provision_key(mock: str) -> str:
    """Channels and a funded key through bench/provision.py, in a child with the gateway's settings."""
    code = ("import json, sys; sys.path.insert(0, 'bench'); import provision; "
            f"print(provision.provision(routes={routes(mock)!r}, name='doors'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:  # noqa: C901 — one linear script: set up, measure, report, tear down
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--stream", default="off,on")
    ap.add_argument("--doors", default=",".join(doors_report.DOORS))
    ap.add_argument("--port", type=int, default=8105)
    ap.add_argument("--mock-port", type=int, default=18082)
    ap.add_argument("--tokens", type=int, default=50, help="content deltas per answer")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--pairs", type=int, default=0, help="paired mode: mirrored rounds per point (0: repeats)")
    ap.add_argument("--slice", type=int, default=2, help="paired mode: seconds per wrk run")
    ap.add_argument("--profile", type=int, default=0, help="after the table: py-spy each door at this concurrency")
    ap.add_argument("--profile-seconds", type=int, default=8)
    ap.add_argument("--profile-idle", action="store_true", help="py-spy --idle: wall time, waits included")
    a = ap.parse_args()
    doors = [d for d in a.doors.split(",") if d]
    unknown = set(doors) - set(doors_report.DOORS)
    if unknown:
        sys.exit(f"--doors: unknown {sorted(unknown)}; choose from {doors_report.DOORS}")
    streams = [{"off": False, "on": True}[s] for s in a.stream.split(",")]
    concs = [int(c) for c in a.concurrency.split(",")]
    shared = Path(os.environ.get("SHARED_BENCH", ROOT.parent / "shared" / "bench"))
    lua = shared / "load" / "post.lua"
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (bench/run installs nginx-light and wrk)")
    for port in (a.port, a.mock_port):
        if port_busy(port):
            sys.exit(f"port {port} on 127.0.0.1 is already in use")

    work = ROOT / "bench" / "_work" / "doors"
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = results / f"doors-{stamp}.jsonl"
    sys.path.insert(0, str(shared / "mock"))
    import fixtures  # the harness's OpenAI bodies

    mock = f"http://127.0.0.1:{a.mock_port}"
    conf = work / "nginx" / "nginx.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(doors_mock.nginx_conf(conf.parent, a.mock_port, doors_mock.bodies(fixtures.bodies(a.tokens), a.tokens)))
    fresh_database()
    env = {**os.environ, "HARNMODEL_VAR_DIR": str(work / "var"), "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    key = provision_key(mock)
    procs = []
    try:
        procs.append(subprocess.Popen(["nginx", "-p", str(conf.parent), "-c", str(conf)]))
        gateway = subprocess.Popen([sys.executable, "-m", "uvicorn", "harnmodel.asgi:application", "--host", "127.0.0.1",
                                    "--port", str(a.port), "--workers", "1", "--loop", "uvloop", "--http", "httptools",
                                    "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env)
        procs.append(gateway)
        wait_port(a.mock_port, "nginx mock")
        wait_port(a.port, "gateway")
        base = f"http://127.0.0.1:{a.port}"
        bodies = {}
        for door in doors:
            for stream in streams:
                url, body, headers = door_request(door, base, key, stream)
                problem = check_once(door, url, body, headers, stream)
                if problem:
                    sys.exit(f"pre-check failed: {problem}")
                path = work / f"{door}-{int(stream)}.json"
                path.write_text(json.dumps(body))
                bodies[(door, stream)] = (url, path, headers)
        print(f"DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ.get('REDIS_URL', '(unset)')} "
              f"gateway pid {gateway.pid}; results {out}", flush=True)
        def measure(door: str, stream: bool, conc: int, seconds: int, **tags) -> None:
            url, path, headers = bodies[(door, stream)]
            cpu0 = cpu_seconds(gateway.pid)
            row = run_wrk(lua, url, path, headers, conc, seconds)
            cpu = cpu_seconds(gateway.pid) - cpu0
            row.update(door=door, stream=stream, concurrency=conc, **tags,
                       cpu_ms_per_req=1000 * cpu / max(1, row["requests"]),
                       cpu_pct=100 * cpu / seconds, load1=os.getloadavg()[0])
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            label = " ".join(f"{k} {v}" for k, v in tags.items())
            print(f"[{label} stream={'on' if stream else 'off'} C={conc} {door:9}] "
                  f"{row['rps']:8.1f} req/s p50 {row['p50']:6.2f} p99 {row['p99']:6.2f} ms "
                  f"cpu {row['cpu_ms_per_req']:.2f} ms/req err {row['errors']} load {row['load1']:.2f}", flush=True)

        def warm(door: str, stream: bool, conc: int) -> None:
            url, path, headers = bodies[(door, stream)]
            run_wrk(lua, url, path, headers, min(conc, 16), 2)

        if a.pairs:
            others = [d for d in doors if d != doors_report.BASE]
            for stream in streams:
                for conc in concs:
                    for door in doors:
                        warm(door, stream, conc)
                    for rnd in range(a.pairs):
                        for door in mirrored(others, rnd):
                            measure(door, stream, conc, a.slice, round=rnd)
        else:
            for rep in range(a.repeat):
                order = doors[rep % len(doors):] + doors[:rep % len(doors)]
                for stream in streams:
                    for conc in concs:
                        for door in order:
                            warm(door, stream, conc)
                            measure(door, stream, conc, a.duration, repeat=rep)
        print()
        runs = doors_report.load(out)
        print(doors_report.table(doors_report.compare(doors_report.medians(runs), a.tolerance), a.tolerance))
        if a.pairs:
            print()
            print(doors_report.paired_table(doors_report.paired(runs, a.tolerance), a.tolerance))
        print(doors_report.load_line(runs))
        if a.profile:
            profile(a, doors, streams, bodies, lua, gateway.pid, work)
        print(f"\nraw results: {out}")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)


def mirrored(others: list[str], rnd: int) -> list[str]:
    """One paired round: the passthrough, the doors, the doors in reverse, the passthrough — each door's two
    runs sit as far from the round's middle as the passthrough's pair's, so a linear drift cancels. The doors'
    order rotates each round."""
    shift = rnd % len(others) if others else 0
    turn = others[shift:] + others[:shift]
    return [doors_report.BASE, *turn, *reversed(turn), doors_report.BASE]


def profile(a, doors, streams, bodies, lua: Path, pid: int, work: Path) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: no profiles (install it into the venv by hand)")
        return
    for stream in streams:
        for door in doors:
            url, path, headers = bodies[(door, stream)]
            raw = work / f"profile-{door}-{int(stream)}-c{a.profile}{'-idle' if a.profile_idle else ''}.txt"
            spying = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(a.profile_seconds),
                                       "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(raw)]
                                      + (["--idle"] if a.profile_idle else []),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            row = run_wrk(lua, url, path, headers, a.profile, max(1, a.profile_seconds - 1))
            spying.wait(timeout=a.profile_seconds + 30)
            print(f"\n== profile {door} stream={'on' if stream else 'off'} C={a.profile}: {row['rps']:.1f} req/s "
                  f"(sampling slows it) — {raw}")
            if raw.exists():
                print(doors_report.profile_summary(raw.read_text(), 15))


if __name__ == "__main__":
    main()
