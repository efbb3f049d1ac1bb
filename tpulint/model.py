"""The reader API: read a .tflite file (or its bytes) into tpulint's typed model, whichever decoder does the work."""

from __future__ import annotations

import mmap
import os
import stat
import sys

from tpulint.errors import ModelError
from tpulint.flatbuf import COLD_FILE_SIZE, Reader
from tpulint.model_file import gc_paused, open_nonblocking, reopen, sniff_foreign, truncation_blocked
from tpulint.model_types import (EDGETPU_CUSTOM_CODE, INTEGER_8BIT, MAX_RANK, Model, Operator, Quantization,
                                 Signature, Subgraph, SubgraphColumns, Tensor, fast_constructor)
from tpulint.object_decoder import ObjectDecoder, _new_operator, _new_quantization, _new_tensor
from tpulint.tflite_layouts import MODEL, SUBGRAPH
from tpulint.tflite_layouts import TENSOR as _TENSOR


def read_model(path: str | os.PathLike[str]) -> Model:
    """Read and validate a .tflite file; raise ModelError with a one-line reason when it is not usable."""
    path = os.fspath(path)
    try:
        with open(path, "rb", buffering=0, opener=open_nonblocking) as f:
            fd = f.fileno()
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ModelError("not a regular file")
            if info.st_size == 0:
                raise ModelError("empty file")
            if info.st_size <= COLD_FILE_SIZE:
                # Read, not mapped: a mapped file that is truncated meanwhile kills the process (SIGBUS).
                data = f.read()
                if not data:
                    raise ModelError("empty file")
                with gc_paused():
                    return parse_model(data, path)
            with truncation_blocked(fd) as blocked:
                if not blocked:  # a mapping could shrink under the parse (SIGBUS kills the process): read it
                    data = f.read()
                    if len(data) != info.st_size:
                        raise ModelError("the file changed while it was read")
                    with gc_paused():
                        return parse_model(data, path)
                with gc_paused(), mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                    return parse_model(mm, path, fd)
    except IsADirectoryError:
        raise ModelError("is a directory") from None
    except FileNotFoundError:
        raise ModelError("no such file") from None
    except PermissionError:
        raise ModelError("permission denied") from None
    except OSError as e:
        raise ModelError(f"cannot read: {e.strerror or e}") from None


def read_model_bytes(data: bytes, path: str = "<bytes>") -> Model:
    """Parse a model held in memory (used by tests and the fixture builder)."""
    if not data:
        raise ModelError("empty file")
    with gc_paused():
        return parse_model(data, path, source=data)


def parse_model(data: "bytes | mmap.mmap", path: str, fd: int | None = None, source: bytes | None = None) -> Model:
    """Parse a model from its bytes (or a mapping of the file `fd`, used to read weight lengths unmapped);
    `source`: the bytes the Model keeps to read parameter values from, when it has no file."""
    size = len(data)
    head = bytes(data[:64])
    foreign = sniff_foreign(head)
    if foreign:
        raise ModelError(f"not a TFLite model: this is {foreign}")
    if size < 8:
        raise ModelError(f"not a TFLite model: only {size} bytes")
    if head[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite model: file identifier is {head[4:8]!r}, expected b'TFL3'")
    strategy = reader_strategy()
    if strategy != "objects":
        min_tables = 0 if strategy == "columnar" else _auto_min_tables(Reader(data, "model", fd))
        if min_tables is not None:
            from tpulint.columnar_decoder import Fallback, decode_columnar

            try:
                return decode_columnar(Reader(data, "model", fd), path, size, source, min_tables)  # type: ignore[no-any-return]
            except (Fallback, ModelError):
                pass  # a check failed: the object decoder names the problem
            except Exception:  # noqa: BLE001 - never in a forced run (tests), where a bug must show
                if strategy == "columnar":
                    raise
    return ObjectDecoder(Reader(data, "model", fd), path, size, source).parse()


READER_ENV = "TPULINT_READER"
STRATEGIES = ("auto", "objects", "columnar")
# Tables (tensors + operators) from which a model is decoded as columns, when numpy is already loaded: a
# vectorised pass has a fixed cost of ~100 numpy calls, so real models of 100-500 ops (YOLOv8n: 600 tables)
# read as fast or faster as objects, while chains of 3,000 ops (10,000 tables) read 1.5x faster as columns.
# Without numpy loaded (the CLI's JSON path) the object decoder reads any model: numpy's import (~85 ms,
# 11 MiB) and the columns' temporaries cost more peak memory than the columns save (chain30k: 94 MiB instead
# of 69), and about the time they save.
_COLUMNS_WITH_NUMPY = 4000


def reader_strategy() -> str:
    """The decoding strategy: $TPULINT_READER if it names one ("objects", "columnar"), else "auto" (columns
    for subgraphs of 4,000 tables and more when numpy is already loaded, objects otherwise)."""
    value = os.environ.get(READER_ENV, "auto").strip().lower()
    return value if value in STRATEGIES else "auto"


def _auto_min_tables(reader: Reader) -> int | None:
    """The columnar decoder's per-subgraph threshold for this model, or None to decode it all as objects."""
    if "numpy" not in sys.modules:
        return None
    threshold = _COLUMNS_WITH_NUMPY
    try:
        if count_tables(reader) < threshold:
            return None
    except ModelError:
        return None  # the object decoder names the problem
    return threshold


def count_tables(reader: Reader) -> int:
    """Tensors plus operators over every subgraph, from the vector lengths alone."""
    root = reader.u32(0)
    (_, _, subgraphs_r, _, _, _, _), fo = reader.decode(root, MODEL)
    total = 0
    for pos in reader.table_positions(root + fo[2] + subgraphs_r) if subgraphs_r else []:
        (tensors_r, _, _, operators_r, _), sfo = reader.decode(pos, SUBGRAPH)
        if tensors_r:
            total += reader.u32(pos + sfo[0] + tensors_r)
        if operators_r:
            total += reader.u32(pos + sfo[3] + operators_r)
    return total


__all__ = ["EDGETPU_CUSTOM_CODE", "INTEGER_8BIT", "MAX_RANK", "Model", "ModelError", "Operator", "Quantization",
           "Signature", "Subgraph", "SubgraphColumns", "Tensor", "fast_constructor", "gc_paused", "open_nonblocking", "parse_model",
           "read_model", "read_model_bytes", "reader_strategy", "reopen", "_TENSOR", "_new_operator", "_new_quantization", "_new_tensor"]
