"""Model files opened safely: foreign formats named, FIFOs never block, a read lease against truncation, reopening."""

from __future__ import annotations

import gc
import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from tpulint.model_types import Model


_FOREIGN_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a ZIP archive (a SavedModel or Keras archive?)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"),
    (b"version https://git-lfs", "a Git LFS pointer, not the model itself (run `git lfs pull`)"),
)


def sniff_foreign(head: bytes) -> str | None:
    for magic, what in _FOREIGN_SIGNATURES:
        if head.startswith(magic):
            return what
    if head[:1] == b"\x08" and (b"onnx" in head[:64] or b"pytorch" in head[:64] or b"\x12" in head[2:4]):
        return "an ONNX model"
    return None




@contextmanager
def truncation_blocked(fd: int) -> Iterator[bool]:
    """Hold a read lease on the file while the block runs (Linux; the file's owner): another process that
    truncates the file or opens it for writing then waits until the block ends, so a mapping of it cannot
    shrink. Yields False where no lease can be had (another OS, a file someone has open for writing, a
    thread other than the main one, which cannot take the lease-break signal); True on Windows, where a
    mapped file cannot be truncated."""
    import signal
    import threading

    try:
        import fcntl
    except ImportError:  # Windows: a mapped file cannot be truncated there
        yield True
        return
    try:
        set_lease, read_lease, unlock = fcntl.F_SETLEASE, fcntl.F_RDLCK, fcntl.F_UNLCK  # type: ignore[attr-defined]
    except AttributeError:
        yield False
        return
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    # The lease-break signal (SIGIO) terminates by default; the block is short, so it is just noted.
    previous = signal.signal(signal.SIGIO, lambda *_: None)
    try:
        try:
            fcntl.fcntl(fd, set_lease, read_lease)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.fcntl(fd, set_lease, unlock)
    finally:
        signal.signal(signal.SIGIO, previous)


def open_nonblocking(path: str, flags: int) -> int:
    """os.open with O_NONBLOCK: a FIFO or a device named like a model must not block the open."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def reopen(model: Model) -> BinaryIO:
    """The model's file opened again (unbuffered), for the few reads after parsing (parameter values, Edge
    TPU packages); OSError unless it is still a regular file of the size parsed (a FIFO must not hang)."""
    f = open(model.path, "rb", buffering=0, opener=open_nonblocking)
    try:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != model.file_size:
            raise OSError("the file changed since it was read")
    except OSError:
        f.close()
        raise
    return f




@contextmanager
def gc_paused(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures (restored on exit).

    Reading a 30,000-op model allocates ~300,000 objects, none in a reference cycle; with the collector
    running, its full collections make reading superlinear in the model size (+60% at 30,000 ops).

    `promote`: on exit, move the objects still alive to the oldest generation (gc.freeze + gc.unfreeze: a
    list splice, no traversal), where surviving two collections would have put them anyway; otherwise the
    first allocation after the pause runs a young collection over every one of them (5% of an analysis).
    Skipped when the process has frozen objects of its own, whose state unfreeze would change (counting
    them walks them: a caller that freezes after each model, like tpulint.runner, leaves `promote` off).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if promote and not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()

