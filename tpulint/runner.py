"""Analyse many model files, in this process or in N worker processes, yielding results in input order."""

from __future__ import annotations

import gc
import marshal
import os
import sys
import time
from typing import Any, Generator, Iterable, TextIO

from tpulint.errors import ModelError

_config: Any = None  # the Config of the run, set once per worker process
_send: str = "entry"  # what a worker sends back per model (see analyze_paths)


def analyze_entry(path: str, config: Any) -> tuple[str, Any, str | None]:
    """(path, ModelReport, None), or (path, None, reason) when the file is not a usable model (for the CLI)."""
    from tpulint.analysis import analyze_model
    from tpulint.model import gc_paused, read_model

    try:
        with gc_paused():
            report = analyze_model(read_model(path), config)
            # The CLI may keep every report until the document is built: move them out of the collector's
            # sight, or each later collection rescans all earlier models (quadratic in the number of models).
            # Frozen before the collector resumes, which would otherwise first run over the whole model.
            gc.freeze()
            return path, report, None
    except ModelError as e:
        gc.freeze()
        return path, None, str(e)


def _init_worker(config: Any, send: str = "entry") -> None:
    global _config, _send
    _config = config
    _send = send


def _work(path: str) -> tuple[str, bytes | tuple[bytes, bytes] | None, str | None]:
    """In a worker: the model's JSON entry (or what `_send` asks for), marshalled (plain data; loads faster
    than unpickling)."""
    path, report, problem = analyze_entry(path, _config)
    if report is None:
        return path, None, problem
    result = worker_result(report, _send)
    if _send == "json":  # the laid-out text travels as bytes, outside marshal: one copy less each way
        text, entry = result
        return path, (text.encode(), marshal.dumps(entry)), problem
    return path, marshal.dumps(result), problem


def worker_result(report: Any, send: str) -> Any:
    """What a worker sends back for one ModelReport: its JSON entry ("entry"); the entry without its op list
    ("summary", for outputs that never read the ops); or (entry laid out as JSON text, entry without ops)
    ("json": the parent only writes the text, which reaches it as UTF-8 bytes)."""
    from tpulint.report import model_entry, streamed_entry

    if send == "summary":
        entry = streamed_entry(report)
        entry["ops"] = []  # never built
        return entry
    entry = model_entry(report)
    if send == "entry":
        return entry
    from tpulint.render.json import entry_text

    text = entry_text(entry)
    entry["ops"] = []
    return text, entry


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def analyze_paths(paths: Iterable[str], config: Any, jobs: int = 1,
                  send: str = "entry") -> Generator[tuple[str, Any, str | None], None, None]:
    """(path, result, problem) per path, in input order; result is a ModelReport (jobs == 1) or what
    `worker_result(report, send)` makes of it.

    With jobs > 1 the models are analysed in `jobs` processes; each worker sends back plain data (by
    default the JSON entry, which `tpulint.report.document` accepts in place of a ModelReport), so that
    the parent, which runs alone, has as little left to do as possible.
    """
    paths = list(paths)
    if jobs <= 0:
        jobs = default_jobs()
    jobs = min(jobs, len(paths))
    if jobs <= 1:
        for path in paths:
            yield analyze_entry(path, config)
        return
    import tpulint.analysis  # noqa: F401 - imported once here rather than in every forked worker
    import tpulint.checks  # noqa: F401
    import tpulint.report  # noqa: F401
    if send == "json":
        import tpulint.render.json  # noqa: F401
    from tpulint.model import gc_paused

    import multiprocessing  # 7 ms of imports (pickle, socket, hashlib): only when there are workers

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Unpickling thousands of small dicts with the collector on costs 3x more than the unpickling itself.
    with gc_paused(), context.Pool(jobs, initializer=_init_worker, initargs=(config, send)) as pool:
        for results in pool.imap(_work_batch, batches(paths, jobs)):
            for path, entry, problem in results:
                if entry is None:
                    yield path, None, problem
                elif isinstance(entry, tuple):  # send == "json": (laid-out text, marshalled entry)
                    yield path, (entry[0], marshal.loads(entry[1])), problem
                else:
                    yield path, marshal.loads(entry), problem


def batches(paths: list[str], jobs: int, largest: int = 32) -> list[list[str]]:
    """`paths` cut into consecutive batches that shrink as the end nears (guided self-scheduling): few
    round trips to the workers, yet all of them finish at about the same time."""
    out = []
    i, n = 0, len(paths)
    while i < n:
        size = max(1, min(largest, (n - i) // (jobs * 3)))
        out.append(paths[i:i + size])
        i += size
    return out


def _work_batch(paths: list[str]) -> list[tuple[str, bytes | tuple[bytes, bytes] | None, str | None]]:
    return [_work(path) for path in paths]


class Progress:
    """`[12/500] path` on a terminal's stderr once a run takes longer than `delay`; nothing in pipes or CI."""

    def __init__(self, total: int, stream: TextIO | None = None, delay: float = 0.5) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.enabled = total > 1 and _interactive(self.stream)
        self.start = time.monotonic()
        self.delay = delay
        self.last = 0.0
        self.shown = False

    def update(self, done: int, path: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < 0.1:
            return
        self.last = now
        from tpulint.render.escape import terminal_safe

        width = 80
        text = f"[{done}/{self.total}] {terminal_safe(path)}"
        self.stream.write("\r\x1b[K" + text[:width])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the progress line (before an error message, and at the end)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _interactive(stream: TextIO) -> bool:
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
