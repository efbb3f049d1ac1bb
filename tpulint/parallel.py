"""Analyse models in N processes: forked workers sharing a queue of batches with this process, or a pool
of spawned workers where there is no fork; results come back in input order.

This module does not import tpulint.runner (which imports it): the caller hands over the function that
analyses one model (tpulint.runner.analyze_entry), so the two never import each other."""

from __future__ import annotations

import marshal
import os
import signal
import struct
import zlib
from typing import Any, Callable, Generator

FORK = True  # tests turn it off to run the pool used where there is no fork

# Analyses one model: (path, config, send) -> (path, result, problem), as tpulint.runner.analyze_entry.
Work = Callable[[str, Any, str], "tuple[str, Any, str | None]"]
_work: Work | None = None  # the run's; set before the forks, or in each pool worker


def analyze_in_processes(paths: list[str], config: Any, jobs: int, send: str,
                         work: Work) -> Generator[tuple[str, Any, str | None], None, None]:
    """tpulint.runner.analyze_paths for jobs > 1: (path, worker_result(report, send) or None, problem), each
    model analysed by `work` (tpulint.runner.analyze_entry; a module-level function, for spawned workers)."""
    global _work
    _work = work
    if hasattr(os, "fork") and FORK:
        yield from _forked(paths, config, jobs, send)
    else:
        yield from _pooled(paths, config, jobs, send)


def batches(paths: list[str], jobs: int, largest: int = 8) -> list[list[str]]:
    """`paths` cut into consecutive batches that shrink as the end nears (guided self-scheduling): few
    round trips to the workers, yet all of them finish at about the same time. Small batches (at most
    `largest` models) also keep small what the parent holds while it works out of turn."""
    out = []
    i, n = 0, len(paths)
    while i < n:
        size = max(1, min(largest, (n - i) // (jobs * 3)))
        out.append(paths[i:i + size])
        i += size
    return out


def _preload(send: str) -> None:
    """Import what analysing a model and making its result needs."""
    import tpulint.analysis  # noqa: F401
    import tpulint.checks  # noqa: F401
    import tpulint.report  # noqa: F401
    if send == "json":
        import tpulint.render.json  # noqa: F401


def _result(path: str, config: Any, send: str) -> tuple[str, Any, str | None]:
    """The run's `work` on one model, the report turned into what `send` asks for."""
    if _work is None:
        raise RuntimeError("tpulint.parallel: analyze_in_processes sets the work before any model")
    return _work(path, config, send)


# --- forked workers sharing one queue with this process ---------------------------------------------

_WORD = struct.Struct("=I")  # a batch number in the queue
# batch, item (STARTED, FAILED or the model's index in the batch), payload size, flags (ZLIB)
_FRAME = struct.Struct("=iiII")
ZLIB = 1  # the payload is zlib-compressed marshal data
STARTED = -1  # a worker took the batch
FAILED = -2  # a worker hit a bug; the payload is marshal((path, traceback))
HOLD_PER_PROCESS = 64  # results held out of turn, per process, beyond which no new batch is taken


def _forked(paths: list[str], config: Any, jobs: int,
            send: str) -> Generator[tuple[str, Any, str | None], None, None]:
    """analyze_paths with this process and `jobs - 1` forked workers taking batches from one shared queue.

    This process analyses batches too, reading what the workers sent between two of its models, so that
    `-j 2` runs two busy processes rather than two workers and a third one competing with them for the
    cores. The queue is a pipe holding each batch number as one 4-byte word: whichever process reads the
    word owns the batch. A batch finished out of turn waits in memory (as plain data) for its turn.
    """
    _preload(send)  # once here rather than in every worker
    from tpulint.model import gc_paused

    cut = batches(paths, jobs)
    queue_r, queue_w = os.pipe()
    unwritten = _fill_queue(queue_w, [_WORD.pack(i) for i in range(len(cut))])
    inbox = _Inbox(cut)
    try:
        for _ in range(jobs - 1):
            out_r, out_w = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: fewer workers, this process takes what they leave
                os.close(out_r)
                os.close(out_w)
                break
            if pid == 0:  # pragma: no cover - the child never returns (coverage does not follow forks)
                _worker(cut, config, send, queue_r, out_w, closing=[queue_w, out_r, *inbox.pipes])
            os.close(out_w)
            inbox.add_worker(out_r, pid)
        if unwritten:  # more batches than the pipe holds: a thread, started after the forks, adds the rest
            import threading

            threading.Thread(target=_write_queue, args=(queue_w, unwritten), daemon=True).start()
        else:
            os.close(queue_w)
        queue_w = -1
        with gc_paused():  # thousands of small dicts unmarshalled: the collector would cost 3x the unmarshal
            turn = 0
            queue_open = True
            hold_limit = HOLD_PER_PROCESS * jobs
            while turn < len(cut):
                ready = inbox.take(turn)
                if ready is not None:
                    yield from ready
                    turn += 1
                    continue
                if queue_open and inbox.held < hold_limit:
                    word = os.read(queue_r, _WORD.size)
                    if word:
                        (mine,) = _WORD.unpack(word)
                        if mine == turn:  # each result goes out at once: no report is held
                            for path in cut[mine]:
                                yield _result(path, config, send)
                                inbox.receive(block=False)
                            turn += 1
                        else:
                            inbox.start(mine)
                            for path in cut[mine]:
                                inbox.put(mine, _result(path, config, send))
                                inbox.receive(block=False)
                        continue
                    queue_open = False  # every batch is taken
                # Wait for the workers; far ahead of the turn, only for the one whose batch is next.
                if not inbox.receive(block=True, only=inbox.owner.get(turn) if inbox.held >= hold_limit else None):
                    yield from inbox.lost(turn)
                    turn += 1
    finally:
        if queue_w >= 0:
            os.close(queue_w)
        os.close(queue_r)
        inbox.close()


def _fill_queue(fd: int, words: list[bytes]) -> list[bytes]:
    """Write as many whole words into the queue as it takes without blocking; the ones left over.

    Writes of at most PIPE_BUF bytes are atomic, so a word is never split between two readers."""
    import select

    per_write = max(1, select.PIPE_BUF // _WORD.size)
    os.set_blocking(fd, False)
    try:
        for i in range(0, len(words), per_write):
            try:
                os.write(fd, b"".join(words[i:i + per_write]))
            except BlockingIOError:
                return words[i:]
        return []
    finally:
        os.set_blocking(fd, True)


def _write_queue(fd: int, words: list[bytes]) -> None:
    import select

    per_write = max(1, select.PIPE_BUF // _WORD.size)
    try:
        for i in range(0, len(words), per_write):
            os.write(fd, b"".join(words[i:i + per_write]))
    except OSError:  # the run stopped early and closed the queue
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def _worker(cut: list[list[str]], config: Any, send: str, queue: int, out: int,
            closing: list[int]) -> None:  # pragma: no cover - runs in forked children
    """A forked worker's whole life: take batches from the queue until it is empty, send a frame per model."""
    code = 1
    path = ""
    try:
        for fd in closing:
            os.close(fd)
        # Ctrl-C reaches the whole process group: just stop; the parent's SIGTERM handler is not the worker's.
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        room = _grow_pipe(out)
        while True:
            word = os.read(queue, _WORD.size)
            if not word:
                break
            (batch,) = _WORD.unpack(word)
            _write_all(out, _FRAME.pack(batch, STARTED, 0, 0))
            for k, path in enumerate(cut[batch]):
                payload = marshal.dumps(_wire(_result(path, config, send)))
                flags = 0
                if _backlog(out) + len(payload) > room // 2:
                    payload, flags = zlib.compress(payload, 1), ZLIB
                _write_all(out, _FRAME.pack(batch, k, len(payload), flags) + payload)
        code = 0
    except BaseException:
        try:
            import traceback

            payload = marshal.dumps((path, traceback.format_exc()))
            _write_all(out, _FRAME.pack(0, FAILED, len(payload), 0) + payload)
        except BaseException:
            pass
    finally:
        os._exit(code)


def _wire(result: tuple[str, Any, str | None]) -> tuple[str, Any, str | None]:
    """A result as a worker sends it: JSON text as UTF-8 bytes, which the parent writes without decoding."""
    path, data, problem = result
    if isinstance(data, tuple):
        data = (data[0].encode(), data[1])
    return path, data, problem


def _grow_pipe(fd: int) -> int:
    """Let the pipe hold a whole batch of JSON entries (Linux; 64 KiB otherwise), so a worker rarely waits
    for this process to finish a model before it can hand over its own; the pipe's size."""
    try:
        import fcntl

        return int(fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ"), 1 << 20))
    except (ImportError, AttributeError, OSError):
        return 1 << 16


def _backlog(fd: int) -> int:
    """Bytes written to the pipe that this process has not read yet (0 where that cannot be asked).

    A worker compresses what it sends once the pipe is half full: this process reads between two of its
    own models, and when the machine is busy with other work it may not run for a while; the worker would
    then wait for it with a full pipe instead of analysing. zlib at level 1 makes a JSON entry ~12x smaller
    for ~3% of its analysis time, paid only when this process lags behind."""
    try:
        import fcntl
        import termios

        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except (ImportError, AttributeError, OSError):
        return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _readable(pipes: list[int], block: bool) -> list[int]:
    import select

    if hasattr(select, "poll"):  # no FD_SETSIZE limit on the descriptors' numbers
        poller = select.poll()
        for pipe in pipes:
            poller.register(pipe, select.POLLIN)
        return [fd for fd, _ in poller.poll(None if block else 0)]
    return select.select(pipes, [], [], None if block else 0)[0]


class _Inbox:
    """What the workers sent, per batch, until the parent's turn comes to it; reaps the workers."""

    def __init__(self, cut: list[list[str]]) -> None:
        self.cut = cut
        self.items: dict[int, list[Any]] = {}  # batch -> its results so far, in order
        self.held = 0  # results in `items`: what the parent holds until their turn
        self.owner: dict[int, int] = {}  # batch -> pid of the worker that took it (the parent's batches: absent)
        self.workers: dict[int, int] = {}  # pipe -> pid, while it is open
        self.pending: dict[int, bytearray] = {}  # pipe -> bytes received but not yet parsed
        self.ended: dict[int, str] = {}  # pid -> how that worker ended

    @property
    def pipes(self) -> list[int]:
        return list(self.workers)

    def add_worker(self, pipe: int, pid: int) -> None:
        self.workers[pipe] = pid
        self.pending[pipe] = bytearray()

    def start(self, batch: int, pid: int | None = None) -> None:
        if pid is not None:
            self.owner[batch] = pid
        self.items[batch] = []

    def put(self, batch: int, result: Any) -> None:
        self.items[batch].append(result)
        self.held += 1

    def take(self, batch: int) -> list[Any] | None:
        """The batch's results once they are all in (or, if its worker died, as far as they came); else None."""
        items = self.items.get(batch)
        if items is not None and len(items) == len(self.cut[batch]):
            del self.items[batch]
            self.held -= len(items)
            return items
        if self.owner.get(batch) in self.ended:
            return self.lost(batch)
        return None

    def receive(self, block: bool, only: int | None = None) -> bool:
        """Read what the workers sent (waiting for something if `block`; from worker `only` alone if it is
        still running); False when no worker is left."""
        if not self.workers:
            return False
        pipes = [p for p, pid in self.workers.items() if pid == only] or list(self.workers)
        for pipe in _readable(pipes, block):
            data = os.read(pipe, 1 << 20)
            if data:
                self._parse(pipe, data)
            else:
                self._reap(pipe)
        return True

    def _parse(self, pipe: int, data: bytes) -> None:
        """Take in the complete frames; keep a partial one for the next read."""
        buf = self.pending[pipe]
        buf += data
        pos = 0
        while len(buf) - pos >= _FRAME.size:
            batch, item, size, flags = _FRAME.unpack_from(buf, pos)
            end = pos + _FRAME.size + size
            if len(buf) < end:
                break
            if item == STARTED:
                self.start(batch, self.workers[pipe])
            elif item == FAILED:  # the worker's batch is lost; the run goes on
                path, trace = marshal.loads(buf[pos + _FRAME.size:end])
                last = (trace.strip().splitlines() or ["?"])[-1][:200]
                self.ended[self.workers[pipe]] = f"hit an internal error ({last}; a bug in tpulint: please report it)"
            else:
                payload = buf[pos + _FRAME.size:end]
                path, result, problem = marshal.loads(zlib.decompress(payload) if flags & ZLIB else payload)
                self.put(batch, (path, result, problem))
            pos = end
        del buf[:pos]

    def _reap(self, pipe: int) -> None:
        pid = self.workers.pop(pipe)
        del self.pending[pipe]
        os.close(pipe)
        _, status = os.waitpid(pid, 0)
        if pid in self.ended:  # it said why before exiting
            return
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = str(number)
            self.ended[pid] = f"was killed by signal {name}"
        else:
            self.ended[pid] = f"exited with status {os.WEXITSTATUS(status)}"

    def lost(self, batch: int) -> list[tuple[str, Any, str | None]]:
        """The batch's results as far as they came, then its other models as not analysed."""
        got = self.items.pop(batch, [])
        self.held -= len(got)
        why = self.ended.get(self.owner.get(batch, -1), "stopped")
        return got + [(path, None, f"not analysed: the worker process analysing it {why}")
                      for path in self.cut[batch][len(got):]]

    def close(self) -> None:
        """Stop the workers still running (the run ended early) and wait for every one."""
        for pipe, pid in list(self.workers.items()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(pipe)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.workers.clear()


# --- a pool of spawned workers, where there is no fork ----------------------------------------------

_config: Any = None  # the Config of the run, set once per pool worker
_send: str = "entry"  # what a pool worker sends back per model


def _init_worker(config: Any, send: str, work: Work) -> None:
    global _config, _send, _work
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _config = config
    _send = send
    _work = work


def _pooled(paths: list[str], config: Any, jobs: int,
            send: str) -> Generator[tuple[str, Any, str | None], None, None]:
    """analyze_paths with a pool of `jobs` spawned workers (each imports tpulint anew); this process waits."""
    import multiprocessing

    from tpulint.model import gc_paused

    context = multiprocessing.get_context("spawn")
    with gc_paused(), context.Pool(jobs, initializer=_init_worker, initargs=(config, send, _work)) as pool:
        for results in pool.imap(_work_batch, batches(paths, jobs)):
            for path, entry, problem in results:
                yield path, None if entry is None else marshal.loads(entry), problem


def _work_batch(paths: list[str]) -> list[tuple[str, bytes | None, str | None]]:
    out = []
    for path in paths:
        path, data, problem = _wire(_result(path, _config, _send))
        out.append((path, None if data is None else marshal.dumps(data), problem))
    return out
