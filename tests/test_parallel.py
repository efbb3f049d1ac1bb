"""-j: forked workers sharing the queue with the parent, their failures, and the pool used without fork."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tpulint import parallel, runner
from tpulint.config import Config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODELS = [str(FIXTURES / name) for name in
          ("int8_cnn.tflite", "broken_chain.tflite", "float_model.tflite", "custom_op.tflite")]

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def serial(paths: list[str], send: str) -> list[tuple[str, Any, str | None]]:
    out = []
    for path, report, problem in runner.analyze_paths(paths, Config(), 1, "report"):
        out.append((path, None if report is None else runner.worker_result(report, send), problem))
    return out


def as_text(results: list[tuple[str, Any, str | None]]) -> list[tuple[str, Any, str | None]]:
    """JSON text as str whichever process laid it out (a worker sends UTF-8 bytes)."""
    return [(p, (r[0].decode() if isinstance(r[0], bytes) else r[0], r[1]) if isinstance(r, tuple) else r, e)
            for p, r, e in results]


def no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@needs_fork
@pytest.mark.parametrize(("jobs", "send"), [(2, "entry"), (3, "json"), (4, "summary")])
def test_forked_results_are_the_serial_ones_in_input_order(tmp_path, jobs, send) -> None:
    (tmp_path / "bad.tflite").write_bytes(b"TFL3" * 3)
    paths = MODELS * 15 + [str(tmp_path / "bad.tflite")] + MODELS
    got = list(runner.analyze_paths(paths, Config(), jobs, send))
    assert as_text(got) == serial(paths, send)
    assert [p for p, r, e in got if e] == [str(tmp_path / "bad.tflite")]
    assert no_children_left()


@needs_fork
@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_n_is_this_process_and_n_minus_1_workers(monkeypatch, jobs) -> None:
    forks = []
    real_fork = os.fork

    def counting_fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    assert len(list(runner.analyze_paths(MODELS * 10, Config(), jobs, "summary"))) == 40
    assert len(forks) == jobs - 1


@needs_fork
def test_a_killed_worker_loses_its_batch_and_nothing_else(tmp_path, monkeypatch) -> None:
    """The models of the batch a worker held when it was killed are reported as not analysed, with how it
    ended; every other model is analysed (by the parent, which then has the queue to itself)."""
    parent, started = os.getpid(), tmp_path / "worker-started"
    real = parallel._result

    def dies_in_a_worker(path: str, config: Any, send: str) -> Any:
        if os.getpid() != parent:
            started.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        wait_for(started)  # so that the worker surely takes a batch before the parent takes them all
        return real(path, config, send)

    monkeypatch.setattr(parallel, "_result", dies_in_a_worker)
    paths = MODELS * 10
    got = list(runner.analyze_paths(paths, Config(), 2, "entry"))
    assert [p for p, r, e in got] == paths
    lost = [i for i, (p, r, e) in enumerate(got) if r is None]
    assert [got[i][2] for i in lost] == ["not analysed: the worker process analysing it was killed by signal "
                                         "SIGKILL"] * len(lost)
    cut = parallel.batches(paths, 2)
    whole_batches = [(sum(map(len, cut[:b])), len(cut[b])) for b in range(len(cut))]
    assert (lost[0], len(lost)) in whole_batches
    assert lost == list(range(lost[0], lost[0] + len(lost)))
    assert no_children_left()


@needs_fork
def test_a_bug_in_a_worker_costs_only_its_batch(tmp_path, monkeypatch) -> None:
    parent, started = os.getpid(), tmp_path / "worker-started"
    real = parallel._result

    def fails_in_a_worker(path: str, config: Any, send: str) -> Any:
        if os.getpid() != parent:
            started.touch()
            raise ValueError("boom")
        wait_for(started)
        return real(path, config, send)

    monkeypatch.setattr(parallel, "_result", fails_in_a_worker)
    got = list(runner.analyze_paths(MODELS * 10, Config(), 2, "entry"))
    assert [p for p, _, _ in got] == MODELS * 10
    lost = [i for i, (_, result, _) in enumerate(got) if result is None]
    assert lost and lost == list(range(lost[0], lost[0] + len(lost)))  # one batch: the worker's
    assert {problem for _, result, problem in got if result is None} == {
        "not analysed: the worker process analysing it hit an internal error (ValueError: boom; a bug in "
        "tpulint: please report it)"}
    assert no_children_left()


@needs_fork
def test_the_parent_stops_running_ahead_of_a_slow_worker(tmp_path, monkeypatch) -> None:
    """While the worker is stuck on a slow model, the parent analyses ahead only until it holds
    HOLD_PER_PROCESS results per process, then waits. Without the limit it would analyse (and hold) nearly
    all 160 models; with it, at most the limit plus the batch it is in plus what the worker sends while the
    parent finishes a batch (a few batches of 8)."""
    parent, started, full = os.getpid(), tmp_path / "worker-started", tmp_path / "parent-at-the-limit"
    real = parallel._result
    first = [True]

    def slow_first_model_in_the_worker(path: str, config: Any, send: str) -> Any:
        if first[0]:
            first[0] = False
            if os.getpid() != parent:
                started.touch()
                # Stuck until the parent holds its limit (on a loaded machine a fixed sleep could end before
                # the parent got there), then a while longer: a parent that ignored the limit would run ahead.
                wait_for(full)
                time.sleep(0.3)
            else:
                wait_for(started)  # the worker is stuck on its batch: the parent is free to run ahead
        return real(path, config, send)

    held = []
    real_put = parallel._Inbox.put

    def put(self: Any, batch: int, result: Any) -> None:
        real_put(self, batch, result)
        held.append(self.held)
        if self.held >= 2 * 2:
            full.touch()

    monkeypatch.setattr(parallel, "_result", slow_first_model_in_the_worker)
    monkeypatch.setattr(parallel._Inbox, "put", put)
    monkeypatch.setattr(parallel, "HOLD_PER_PROCESS", 2)
    paths = MODELS * 40
    assert as_text(list(runner.analyze_paths(paths, Config(), 2, "json"))) == serial(paths, "json")
    assert 2 * 2 <= max(held) <= 2 * 2 + 4 * 8


@needs_fork
def test_stopping_early_stops_and_reaps_the_workers() -> None:
    results = runner.analyze_paths(MODELS * 50, Config(), 3, "json")
    assert next(results)[0] == MODELS[0]
    results.close()
    assert no_children_left()


def test_a_queue_longer_than_the_pipe_arrives_whole_in_order() -> None:
    """More batches than the pipe holds: what does not fit goes in from a thread, never a word split."""
    words = [parallel._WORD.pack(i) for i in range(100_000)]
    read_end, write_end = os.pipe()
    left = parallel._fill_queue(write_end, words)
    assert 0 < len(left) < len(words)
    writer = threading.Thread(target=parallel._write_queue, args=(write_end, left))
    writer.start()
    received = bytearray()
    while chunk := os.read(read_end, 1 << 16):
        received += chunk
    writer.join()
    os.close(read_end)
    assert bytes(received) == b"".join(words)


def test_the_pool_without_fork_gives_the_serial_results(monkeypatch) -> None:
    """Where there is no fork (Windows) the models go to a pool of spawned processes instead."""
    monkeypatch.setattr(parallel, "FORK", False)
    paths = MODELS * 3
    assert as_text(list(runner.analyze_paths(paths, Config(), 2, "json"))) == serial(paths, "json")


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.001)


@needs_fork
def test_when_no_worker_can_be_forked_the_parent_analyses_everything(monkeypatch) -> None:
    def fork_fails() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", fork_fails)
    paths = MODELS * 5
    assert as_text(list(runner.analyze_paths(paths, Config(), 3, "json"))) == serial(paths, "json")


def test_parallel_does_not_import_the_runner() -> None:
    """The runner imports tpulint.parallel and hands it the work: no import circle between the two."""
    import subprocess
    import sys

    code = "import sys, tpulint.parallel; print('tpulint.runner' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@needs_fork
def test_a_worker_compresses_what_it_sends_when_the_parent_lags(monkeypatch) -> None:
    """With the pipe seemingly full, every entry goes zlib-compressed; the parent's results are the same."""
    monkeypatch.setattr(parallel, "_backlog", lambda fd: 1 << 30)
    paths = MODELS * 5
    assert as_text(list(runner.analyze_paths(paths, Config(), 2, "json"))) == serial(paths, "json")
    assert as_text(list(runner.analyze_paths(paths, Config(), 2, "entry"))) == serial(paths, "entry")


@needs_fork
def test_the_pipe_backlog_is_what_the_reader_has_not_read() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x" * 1000)
        assert parallel._backlog(write_end) in (0, 1000)  # 0 where the OS cannot tell
        os.read(read_end, 600)
        assert parallel._backlog(write_end) in (0, 400)
    finally:
        os.close(read_end)
        os.close(write_end)
