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


report = load("report")
litellm_reqs = load("litellm_reqs")


def run(label: str, side: str, stream: bool, conc: int, rps: float, p50: float, p99: float, **extra) -> dict:
    return {"label": label, "side": side, "kind": "responses", "stream": stream, "concurrency": conc, "rps": rps,
            "p50": p50, "p99": p99, "errors": 0, "requests": int(rps * 10) if rps else 0, **extra}


@pytest.fixture
def session(tmp_path: Path) -> Path:
    rows = []
    for conc in (1, 16):
        for stream in (False, True):
            # three repeats; the medians are the middle values whatever the order
            for target_rps, target_p50, mock_p50 in ((300, 3.0, 0.05), (500, 2.0, 0.04), (400, 4.0, 0.06)):
                rows.append(run("harnmodel-responses", "mock", stream, conc, 10_000, mock_p50, 0.5))
                rows.append(run("harnmodel-responses", "target", stream, conc, target_rps, target_p50, 9.0,
                                cpu_pct=95.0, rss_mib=110.0 + conc))
                rows.append(run("litellm", "mock", stream, conc, 10_000, mock_p50, 0.5))
                rows.append(run("litellm", "target", stream, conc, target_rps / 5, target_p50 * 4, 30.0,
                                cpu_pct=100.0, rss_mib=400.0))
    rows.append(run("harnmodel-ttft", "mock", True, 1, 1.8, 560, 600, ttft_p50=52.0, ttft_p99=55.0, ttfe_p50=1.0))
    rows.append(run("harnmodel-ttft", "target", True, 1, 1.8, 561, 601, ttft_p50=53.5, ttft_p99=58.0, ttfe_p50=2.0))
    path = tmp_path / "session-20260101-000000.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_metrics_are_medians_and_added_latency_is_target_minus_mock(session: Path):
    runs = report.load(session)
    ours = report.metrics(runs, "ours", [1, 16])
    assert ours["req/s non-stream C=1"] == 400
    assert ours["streams/s C=16"] == 400
    assert ours["added p50 ms non-stream C=1"] == pytest.approx(3.0 - 0.05)
    assert ours["added p99 ms stream, whole C=1"] == pytest.approx(8.5)
    assert ours["TTFT added p50 ms C=1"] == pytest.approx(1.5)
    assert ours["TTFT added p99 ms C=1"] == pytest.approx(3.0)
    assert ours["first event added p50 ms C=1"] == pytest.approx(1.0)
    assert ours["CPU % non-stream C=16"] == 95.0
    assert ours["RSS MB after load (max)"] == 126.0
    litellm = report.metrics(runs, "litellm", [1, 16])
    assert litellm["req/s non-stream C=16"] == 80
    assert litellm["TTFT added p50 ms C=1"] is None  # no TTFT runs for it in this session


def test_side_by_side_prints_ratios_and_na_for_a_peer_without_runs(session: Path, capsys):
    summary = session.with_name("summary.jsonl")
    report.side_by_side(report.load(session), ["litellm", "portkey"], "s1", summary)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("req/s non-stream C=16"))
    assert line.split()[3:] == ["400", "80", "n/a", "5.00×", "n/a"]
    latency = next(x for x in out.splitlines() if x.startswith("added p50 ms non-stream C=1"))
    assert latency.split()[-2:] == ["0.25×", "n/a"]  # 2.95 ms against 11.95 ms
    lines = [json.loads(x) for x in summary.read_text().splitlines()]
    assert [x["gateway"] for x in lines] == ["ours", "litellm", "portkey"]
    assert lines[2]["req/s non-stream C=1"] is None


def test_a_run_without_finished_requests_has_no_latency_but_zero_throughput():
    rows = [{"rps": 0.0, "p50": 0.0, "requests": 0}, {"rps": 10.0, "p50": 5.0, "requests": 100}]
    assert report.med(rows, "rps") == 5.0
    assert report.med(rows, "p50") == 5.0


def test_ratio_is_na_when_a_side_is_missing_or_not_positive():
    assert report.ratio(600.0, 100.0).strip() == "6.00×"
    assert report.ratio(None, 100.0).strip() == "n/a"
    assert report.ratio(-0.3, 5.0).strip() == "n/a"


METADATA = """Metadata-Version: 2.4
Name: litellm
Version: 1.110.2
Requires-Dist: httpx>=0.23.0
Requires-Dist: litellm-proxy==1.110.2 ; extra == 'proxy'
Requires-Dist: uvicorn>=0.33.0,<1.0 ; extra == 'proxy'
Requires-Dist: granian>=2.7.4,<3.0 ; python_full_version < '3.15' and extra == 'proxy'
Requires-Dist: granian>=2.8.0,<3.0 ; python_full_version >= '3.15' and extra == 'proxy'
Requires-Dist: litellm-proxy-extras==0.4.114.post1 ; extra == 'proxy'
Requires-Dist: litellm-enterprise==0.1.83.post1 ; extra == 'proxy'
Requires-Dist: anthropic[vertex]>=0.84.0,<1.0 ; extra == 'proxy-runtime'
Requires-Dist: prisma>=0.11.0,<1.0 ; extra == 'extra-proxy'
"""


def test_litellm_proxy_requirements_drop_the_absent_package_and_pin_available_companions():
    proxy = litellm_reqs.extra_requirements(METADATA, "proxy")
    assert proxy == ["uvicorn<1.0,>=0.33.0", "granian<3.0,>=2.7.4", "litellm-proxy-extras==0.4.110",
                     "litellm-enterprise==0.1.83"]
    assert litellm_reqs.extra_requirements(METADATA, "proxy-runtime") == ["anthropic[vertex]<1.0,>=0.84.0"]
