import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


doors_report = load("doors_report")
doors_mock = load("doors_mock")
doors = load("doors")


def run(door: str, stream: bool, conc: int, rps: float, p50: float, **extra) -> dict:
    return {"door": door, "stream": stream, "concurrency": conc, "rps": rps, "p50": p50, "p99": p50 * 3,
            "requests": int(rps * 5), "errors": 0, "cpu_ms_per_req": 1000 / max(rps, 1), "load1": 2.0, **extra}


@pytest.fixture
def session(tmp_path: Path) -> Path:
    rows = []
    for rps, p50 in ((300, 3.0), (500, 2.0), (400, 4.0)):  # medians: 400 req/s, 3.0 ms
        rows.append(run("responses", False, 16, rps, p50))
        rows.append(run("chat", False, 16, rps * 0.95, p50 + 1))  # 380: within 10 %
        rows.append(run("messages", False, 16, rps * 0.8, p50 + 2))  # 320: 20 % slower
    rows.append(run("gemini", False, 16, 0, 0, requests=0, p99=None, cpu_ms_per_req=None))  # failed: no latency
    rows.append(run("chat", True, 1, 100, 9.0))  # no passthrough measured at this point
    path = tmp_path / "doors.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_medians_and_verdicts_against_the_responses_passthrough(session: Path) -> None:
    rows = {(r["door"], r["stream"], r["concurrency"]): r
            for r in doors_report.compare(doors_report.medians(doors_report.load(session)), 0.10)}
    base, chat, messages = rows[("responses", False, 16)], rows[("chat", False, 16)], rows[("messages", False, 16)]
    assert (base["n"], base["rps"], base["p50"], base["verdict"]) == (3, 400, 3.0, "base")
    assert chat["rps"] == pytest.approx(380) and chat["ratio"] == pytest.approx(0.95) and chat["verdict"] == "ok"
    assert chat["added_p50"] == pytest.approx(1.0)
    assert chat["cpu_ratio"] == pytest.approx(1 / 0.95)  # the fixture's CPU per request is 1000 / req/s
    assert messages["ratio"] == pytest.approx(0.8) and messages["verdict"] == "SLOW"
    gemini = rows[("gemini", False, 16)]
    assert gemini["rps"] == 0 and gemini["p50"] is None and gemini["ratio"] == 0 and gemini["verdict"] == "SLOW"
    lone = rows[("chat", True, 1)]
    assert lone["ratio"] is None and lone["verdict"] == "n/a"
    # stream off before on, the passthrough first within a point
    assert [r["door"] for r in doors_report.compare(doors_report.medians(doors_report.load(session)), 0.1)][:4] == [
        "responses", "chat", "messages", "gemini"]


def test_table_is_markdown_with_a_row_per_point(session: Path) -> None:
    text = doors_report.table(doors_report.compare(doors_report.medians(doors_report.load(session)), 0.10), 0.10)
    lines = text.splitlines()
    assert "within 10%" in lines[0] and len(lines) == 2 + 5
    assert lines[3].startswith("| chat → openai_chat | off | 16 | 3 | 380.0 | 0.95 | 4.00 | 1.00 | 12.00 | 2.63 | 1.05 | 0 | ok |")
    assert "| n/a |" in lines[5]  # the failed gemini run has no latency
    runs = doors_report.load(session)
    runs[0]["load1"], runs[1]["load1"] = 0.5, 6.25
    assert doors_report.load_line(runs) == "1-min load average during the runs: median 2.00 (min 0.50, max 6.25)"
    assert doors_report.load_line([{"rps": 1}]) == "load average: not recorded"


STACKS = """\
main (uvicorn/main.py:1);handle (gateway/relay/door_handle.py:10);parse (gateway/protocols/chat/door.py:5) 30
main (uvicorn/main.py:1);handle (gateway/relay/door_handle.py:10);respond (gateway/relay/job.py:9);loads (json/decoder.py:3) 50
main (uvicorn/main.py:1);_worker (concurrent/futures/thread.py:81);execute (psycopg/cursor.py:7) 20
not a stack line
"""


def test_profile_shares_by_area_and_leaf() -> None:
    stacks = doors_report.read_stacks(STACKS)
    assert len(stacks) == 3
    assert doors_report.inclusive(stacks, "gateway/protocols/") == pytest.approx(0.3)
    assert doors_report.inclusive(stacks, "door_handle.py") == pytest.approx(0.8)
    assert doors_report.inclusive(stacks, "nowhere") == 0
    assert doors_report.top_self(stacks, 2) == [("loads (json/decoder.py:3)", 0.5),
                                                ("parse (gateway/protocols/chat/door.py:5)", 0.3)]
    summary = doors_report.profile_summary(STACKS, 3)
    assert summary.startswith("samples: 100") and "30.0%  protocols: doors and channels" in summary


def test_mock_bodies_speak_each_protocol() -> None:
    served = doors_mock.bodies({"/v1/responses": ("application/json", "{}")}, 5)
    message = json.loads(served["/v1/messages"][1])
    assert message["content"][0]["text"] == "The quick brown fox jumps" and message["usage"]["output_tokens"] == 5
    events = [block.split("\n") for block in served["/stream/v1/messages"][1].strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"] and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_delta") == 5
    for lines in events:
        assert json.loads(lines[1].removeprefix("data: "))["type"] == lines[0].removeprefix("event: ")
    gemini = json.loads(served["/v1beta/models/gpt-4o:generateContent"][1])
    assert gemini["usageMetadata"]["candidatesTokenCount"] == 5
    chunks = [json.loads(c.removeprefix("data: ")) for c in
              served["/stream/v1beta/models/gpt-4o:streamGenerateContent"][1].strip().split("\r\n\r\n")]
    assert len(chunks) == 5 and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == gemini["candidates"][0][
        "content"]["parts"][0]["text"]
    assert served["/v1/responses"] == ("application/json", "{}")  # the harness's OpenAI bodies pass through


def test_nginx_conf_serves_every_body_from_a_file(tmp_path: Path) -> None:
    served = doors_mock.bodies({}, 3)
    conf = doors_mock.nginx_conf(tmp_path, 18099, served)
    assert "listen 127.0.0.1:18099" in conf and "$" not in conf
    for path in served:
        assert f"location = {path} " in conf
    assert sorted(p.read_bytes() for p in (tmp_path / "html").iterdir()) == sorted(b.encode() for _, b in served.values())
    with pytest.raises(ValueError, match="must not contain"):
        doors_mock.nginx_conf(tmp_path, 18099, {"/x": ("text/plain", "costs $5")})


def test_each_door_is_called_its_own_way() -> None:
    url, body, headers = doors.door_request("messages", "http://gw", "sk-1", True)
    assert url == "http://gw/v1/messages" and body["stream"] is True and body["model"] == "doors-messages-stream"
    assert headers == {"x-api-key": "sk-1", "anthropic-version": "2023-06-01"}
    url, body, headers = doors.door_request("gemini", "http://gw", "sk-1", True)
    assert url == "http://gw/v1beta/models/doors-gemini-stream:streamGenerateContent?alt=sse"
    assert "stream" not in body and headers == {"x-goog-api-key": "sk-1"}
    url, body, _ = doors.door_request("chat", "http://gw", "sk-1", True)
    assert body["stream_options"] == {"include_usage": True}
    assert doors.door_request("responses", "http://gw", "k", False)[0] == "http://gw/v1/responses"
    with pytest.raises(ValueError):
        doors.door_request("bogus", "http://gw", "k", False)
    # every door's stream model points at the mock's stream bodies, through the channel of its own kind
    assert doors.routes("http://m") == {
        "doors-responses": ("openai_responses", "http://m/v1"), "doors-responses-stream": ("openai_responses", "http://m/stream/v1"),
        "doors-chat": ("openai_chat", "http://m/v1"), "doors-chat-stream": ("openai_chat", "http://m/stream/v1"),
        "doors-messages": ("anthropic", "http://m/v1"), "doors-messages-stream": ("anthropic", "http://m/stream/v1"),
        "doors-gemini": ("gemini", "http://m/v1beta"), "doors-gemini-stream": ("gemini", "http://m/stream/v1beta")}


def test_a_paired_round_is_mirrored_so_a_linear_drift_cancels() -> None:
    assert doors.mirrored(["chat", "messages"], 0) == ["responses", "chat", "messages", "messages", "chat", "responses"]
    assert doors.mirrored(["chat", "messages"], 1) == ["responses", "messages", "chat", "chat", "messages", "responses"]
    order = doors.mirrored(["chat", "messages", "gemini"], 2)
    mean_slot = {door: sum(i for i, d in enumerate(order) if d == door) / 2 for door in set(order)}
    assert set(mean_slot.values()) == {3.5}  # every door's two runs centre on the round's middle


def test_paired_ratios_judge_the_median_round() -> None:
    rows = []
    # the machine slows through every round (1.0 → 0.5): each door costs the same as the passthrough, or 20 % more
    for rnd, speed in enumerate((1.0, 0.8, 0.6, 0.5, 0.9)):
        order = doors.mirrored(["chat", "messages"], rnd)
        for slot, door in enumerate(order):
            drift = speed * (1 - 0.05 * slot)
            rows.append(run(door, False, 16, 600 * drift * (0.8 if door == "messages" else 1.0), 2.0, round=rnd))
    rows.append(run("chat", False, 16, 999, 1.0))  # a run without a round is not paired
    result = {r["door"]: r for r in doors_report.paired(rows, 0.10)}
    assert set(result) == {"chat", "messages"} and result["chat"]["rounds"] == 5
    assert result["chat"]["median"] == pytest.approx(1.0) and result["chat"]["verdict"] == "ok"
    assert result["messages"]["median"] == pytest.approx(0.8) and result["messages"]["verdict"] == "SLOW"
    table = doors_report.paired_table(doors_report.paired(rows, 0.10), 0.10).splitlines()
    assert table[2] == "| chat → openai_chat | off | 16 | 5 | 1.00 | 1.00 – 1.00 | 1.00 | ok |"
    assert result["messages"]["cpu"] == pytest.approx(1.25)  # the fixture's CPU per request is 1000 / req/s


def test_the_cost_bench_reads_callgrinds_newest_dump(tmp_path: Path) -> None:
    doors_cost = load("doors_cost")
    (tmp_path / "callgrind.out.7").write_text("events: Ir\nsummary: 999\n")
    before = set(tmp_path.glob("callgrind.out.*"))
    (tmp_path / "callgrind.out.7.1").write_text("# callgrind format\nevents: Ir\nfn=x\n0 5\ntotals: 5400000\n")
    assert doors_cost.dumped_total(tmp_path, before) == 5_400_000
