"""Run the tpulint CLI in a child process under a wall-clock timeout: exit status, output, CPU time and peak RSS."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
_MARK = "\nPEAK_RSS_KIB "  # bench/_child.py reports the child's own high-water mark (VmHWM) on stderr at exit


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall clock
    cpu_seconds: float  # user + system time of the child: robust to a loaded machine
    peak_mib: float | None  # None when the child died before reporting it

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def errors(self) -> list[str]:
        return self.stderr.splitlines()


def memory_bound_mib(*paths: str | os.PathLike[str]) -> float:
    """The README's promise: peak RSS at most twice the largest input plus 100 MiB."""
    largest = max((os.path.getsize(p) for p in paths if os.path.isfile(p)), default=0)
    return 2 * largest / (1 << 20) + 100


def start_cli(args: Sequence[str], cwd: str | os.PathLike[str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m tpulint ARGS` through bench/_child.py, in its own process group (for signal tests), with
    Ctrl-C as at a terminal: a suite started in the background (`pytest &`, nohup) passes SIGINT on ignored,
    and a process that inherits it ignored rightly keeps ignoring it."""
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "_child.py"), "-m", "tpulint", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            env={**os.environ, **(env or {})}, start_new_session=True,
                            preexec_fn=_sigint_as_at_a_terminal)


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(proc: subprocess.Popen[bytes], timeout: float = 10.0, started: float | None = None) -> ChildRun:
    """Wait for `proc` at most `timeout` seconds (then kill it and fail); what it did."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic() if started is None else started
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{proc.args}: still running after {timeout} s") from None
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = err.decode("utf-8", "backslashreplace")
    peak = None
    if _MARK in text:
        text, _, tail = text.rpartition(_MARK)
        peak = int(tail.split()[0]) / 1024
    return ChildRun(proc.returncode, out.decode("utf-8", "backslashreplace"), text, seconds, cpu, peak)


def run_cli(args: Sequence[str], timeout: float = 10.0, cwd: str | os.PathLike[str] | None = None,
            env: dict[str, str] | None = None) -> ChildRun:
    started = time.monotonic()
    return finish(start_cli(args, cwd, env), timeout, started)
