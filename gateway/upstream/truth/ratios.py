"""Reported ÷ locally counted input tokens, per channel × model.

The relay hands each settled request here (`note`, an append to a bounded queue: no counting, no I/O on
the hot path). One worker thread counts the input exactly (counting.py, the vocabularies in a child process: child.py), buffers the samples and writes
them in batches (every HARNMODEL_TRUTH_FLUSH_SAMPLES samples or HARNMODEL_TRUTH_FLUSH_SECONDS) into
TokenRatio, a bounded window per channel × model. Past HARNMODEL_TRUTH_PENDING queued requests new ones
are dropped: a sample is evidence, never worth memory or latency.
"""

import logging
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from gateway.models import Channel
from gateway.upstream.truth import child
from gateway.upstream.truth.counting import count_request, vocabulary
from gateway.upstream.truth.models import TokenRatio

log = logging.getLogger("harnmodel.truth")


@dataclass(frozen=True, slots=True)
class Sample:
    channel_id: int
    model_id: str
    vocabulary: str
    counted: int
    reported: int


_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harnmodel-truth")
_buffer: list[Sample] = []


@dataclass(slots=True)
class _State:
    pending: int = 0  # handed to the worker, not yet counted
    dropped: int = 0  # refused since the process started (queue full)
    flushed_at: float = 0.0  # time.monotonic() of the last write


_state = _State(flushed_at=time.monotonic())
_timer: threading.Timer | None = None
# When each channel × model last gave a sample. Counting an input again costs real CPU (a tokenizer pass
# in the truth child), and a busy channel fills its window in minutes anyway: HARNMODEL_TRUTH_SAMPLES_PER_SECOND
# bounds it per channel × model (0 = every request). Bounded: pairs come from the catalog, cleared past MAX.
_last_sample: dict[tuple[int, str], float] = {}
_LAST_SAMPLE_MAX = 10_000


def _due(channel_id: int, public_id: str) -> bool:
    rate = settings.HARNMODEL_TRUTH_SAMPLES_PER_SECOND
    if rate <= 0:
        return True
    now, pair = time.monotonic(), (channel_id, public_id)
    if now - _last_sample.get(pair, -1e9) < 1.0 / rate:
        return False
    if len(_last_sample) >= _LAST_SAMPLE_MAX:
        _last_sample.clear()
    _last_sample[pair] = now
    return True


def note(channel: Any, public_id: str, request: Any, reported_input: int) -> bool:
    """A settled request's channel (a ChannelRoute), model, typed request and the upstream's input count.
    Returns False when the sample was dropped (queue full, or nothing reported)."""
    if reported_input <= 0 or reported_input > settings.HARNMODEL_TRUTH_MAX_INPUT_TOKENS:
        return False  # a huge input: seconds of the child's tokenizer and a multi-MB hand-over for one sample
    if not _due(channel.id, public_id):
        return False  # sampled: this pair gave one a moment ago
    with _lock:
        if _state.pending >= settings.HARNMODEL_TRUTH_PENDING:
            _state.dropped += 1
            return False
        _state.pending += 1
    _executor.submit(_count, channel.id, public_id, channel.upstream_model, channel.options, request, reported_input)
    return True


def _count(channel_id: int, public_id: str, upstream_model: str, options: dict, request: Any, reported: int) -> None:
    global _timer
    try:
        vocab = vocabulary(public_id, upstream_model, options or {})
        count = count_request(request, vocab, counter=child.count_messages)  # vocabularies in the child (child.py)
        if count is None or count.tokens < settings.HARNMODEL_TRUTH_MIN_TOKENS:
            return
        with _lock:
            _buffer.append(Sample(channel_id, public_id, vocab, count.tokens, reported))
            size = len(_buffer)
        if size >= settings.HARNMODEL_TRUTH_FLUSH_SAMPLES or (
            time.monotonic() - _state.flushed_at >= settings.HARNMODEL_TRUTH_FLUSH_SECONDS
        ):
            _flush_now()
        elif size == 1:  # quiet traffic: the first sample of a batch is written within FLUSH_SECONDS anyway
            _timer = threading.Timer(settings.HARNMODEL_TRUTH_FLUSH_SECONDS, _flush_later)
            _timer.daemon = True
            _timer.start()
    except Exception:
        log.exception("truth sample failed", extra={"channel_id": channel_id})
    finally:
        with _lock:
            _state.pending -= 1


def _flush_later() -> None:
    try:
        _executor.submit(_flush_now)
    except RuntimeError:  # the interpreter is exiting: the executor takes no more work
        pass


def _flush_now() -> int:
    """Write the buffer (runs on the worker thread). Returns the samples written."""
    with _lock:
        batch = list(_buffer)
        _buffer.clear()
        _state.flushed_at = time.monotonic()
    if not batch:
        return 0
    try:
        record(batch)
    except Exception:
        log.exception("truth samples lost (%s)", len(batch))
        return 0
    finally:
        connections.close_all()  # this thread's connections only: it writes seldom
    return len(batch)


def drain() -> int:
    """Wait for every queued count and write the buffer now (tests, shutdown)."""
    return _executor.submit(_flush_now).result(60)


def forget() -> None:
    """Wait for queued counts and throw the buffer away unwritten (a test's start: samples of earlier
    tests' requests name channel ids the test database may have given out again)."""
    _executor.submit(lambda: None).result(60)
    with _lock:
        _buffer.clear()
    _last_sample.clear()


def dropped() -> int:
    return _state.dropped


def record(samples: list[Sample]) -> None:
    """Fold samples into each channel × model's window (newest last, at most HARNMODEL_TRUTH_WINDOW)."""
    grouped: dict[tuple[int, str], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.channel_id, sample.model_id), []).append(sample)
    keep = max(1, settings.HARNMODEL_TRUTH_WINDOW)
    # A channel deleted while its samples waited has nothing to score: its samples go, the others stay.
    alive = set(Channel.objects.filter(pk__in={key[0] for key in grouped}).values_list("pk", flat=True))
    for (channel_id, model_id), group in grouped.items():
        if channel_id not in alive:
            continue
        with transaction.atomic():
            TokenRatio.objects.get_or_create(channel_id=channel_id, model_id=model_id,
                                             defaults={"vocabulary": group[-1].vocabulary})  # fmt: skip
            row = TokenRatio.objects.select_for_update().get(channel_id=channel_id, model_id=model_id)
            if row.vocabulary != group[-1].vocabulary:  # the operator changed it: old ratios meant another count
                row.window = []
                row.vocabulary = group[-1].vocabulary
            row.window = (list(row.window) + [round(s.reported / s.counted, 4) for s in group])[-keep:]
            row.samples += len(group)
            row.counted_tokens += sum(s.counted for s in group)
            row.reported_tokens += sum(s.reported for s in group)
            row.save()


@dataclass(frozen=True, slots=True)
class RatioStats:
    n: int
    median: float
    p10: float
    p90: float
    vocabulary: str

    @property
    def exact(self) -> bool:
        return self.vocabulary != "estimate"

    def inflated(self) -> bool:
        """Systematic over-reporting: enough exact samples whose median is past the tolerance."""
        return (
            self.exact
            and self.n >= settings.HARNMODEL_TRUTH_MIN_SAMPLES
            and self.median > settings.HARNMODEL_TRUTH_INFLATION_RATIO
        )

    def as_dict(self) -> dict:
        return {"n": self.n, "median": self.median, "p10": self.p10, "p90": self.p90, "vocabulary": self.vocabulary,
                "inflated": self.inflated()}  # fmt: skip


def stats(row: TokenRatio) -> RatioStats | None:
    window = [float(r) for r in row.window or ()]
    if not window:
        return None
    ordered = sorted(window)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return RatioStats(len(window), round(statistics.median(window), 4), at(0.1), at(0.9), row.vocabulary)
