"""Analyse many model files, in this process or in N worker processes, yielding results in input order."""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Any, Generator, Iterable, TextIO

from tpulint.errors import ModelError


ISSUES_URL = "https://github.com/tpulint/tpulint/issues"


def analyze_entry(path: str, config: Any, send: str | None = None,
                  data: bytes | None = None) -> tuple[str, Any, str | None]:
    """(path, ModelReport, None), or (path, None, reason) when the file is not a usable model (for the CLI);
    with `send`, the report comes back as `worker_result(report, send)`.

    `data`: the model's bytes, when they do not come from the file `path` names (stdin). `config` is a
    Config or anything with `for_path(path) -> Config` (tpulint.config.Discovery).

    A bug met while analysing this model (any other exception) is this model's problem, never the run's end:
    the reason is `internal_error`'s line, followed by the traceback on the next lines (the CLI shows those
    only with --debug)."""
    from tpulint.analysis import analyze_model
    from tpulint.model import gc_paused, read_model, read_model_bytes

    try:
        with gc_paused():
            model = read_model(path) if data is None else read_model_bytes(data, path)
            report = analyze_model(model, config.for_path(path))
            result = report if send is None else worker_result(report, send)
            # The CLI may keep every report until the document is built: move them out of the collector's
            # sight, or each later collection rescans all earlier models (quadratic in the number of models).
            # Frozen before the collector resumes, which would otherwise first run over the whole model.
            gc.freeze()
            return path, result, None
    except ModelError as e:
        gc.freeze()
        return path, None, str(e)
    except Exception as e:  # noqa: BLE001 - a bug in tpulint: reported as this model's error
        import traceback

        gc.freeze()
        return path, None, internal_error(e) + "\n" + traceback.format_exc().rstrip("\n")


def internal_error(e: BaseException) -> str:
    """The one line for an unexpected exception while analysing a model."""
    detail = str(e).split("\n", 1)[0][:200]
    return (f"internal error: {type(e).__name__}{': ' + detail if detail else ''} (a bug in tpulint: please "
            f"report it with the model at {ISSUES_URL}; --debug shows the traceback)")


def worker_result(report: Any, send: str) -> Any:
    """What a worker sends back for one ModelReport: its JSON entry ("entry"); the entry without its op list
    ("summary", for outputs that never read the ops); or (entry laid out as JSON text, entry without ops)
    ("json": the parent only writes the text, which reaches it as UTF-8 bytes)."""
    from tpulint.report import model_entry, plain_entry, streamed_entry

    if send == "summary":
        entry = streamed_entry(report)
        entry["ops"] = []  # never built
        return plain_entry(entry)  # plain data for the pipe
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
    """(path, result, problem) per path, in input order; result is what `worker_result(report, send)` makes
    of the ModelReport, or the report itself in this process for `send` "json" or "report".

    With jobs > 1 the models are analysed in `jobs` processes (tpulint.parallel), which send back plain
    data: by default the JSON entry, which `tpulint.report.document` accepts in place of a ModelReport.
    """
    paths = list(paths)
    if jobs <= 0:
        jobs = default_jobs()
    jobs = min(jobs, len(paths))
    if jobs <= 1:
        # Each report becomes what `send` asks for at once, so the run holds plain entries, not reports;
        # "json" (streamed by the CLI, ops built as they are written) and "report" keep the ModelReport.
        convert = None if send in ("json", "report") else send
        for path in paths:
            yield analyze_entry(path, config, convert)
        return
    from tpulint import parallel

    yield from parallel.analyze_in_processes(paths, config, jobs, send, analyze_entry)


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
