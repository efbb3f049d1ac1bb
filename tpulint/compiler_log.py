"""Read an edgetpu_compiler log: its version, summary lines and the "Operator  Count  Status" table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpulint.errors import TpulintError
from tpulint.findings import (MAPPED, MORE_THAN_ONE_SUBGRAPH, NOT_CONSTANT, NOT_SUPPORTED, TWO_D_OUTPUT,
                              UNSPECIFIED_LIMITATION, UNSUPPORTED_DATA_TYPE, UNSUPPORTED_RANK,
                              VERSION_NOT_SUPPORTED)

# A log is a few KiB; anything much larger is not one (and is not read whole into memory).
MAX_LOG_BYTES = 4 * 1024 * 1024
KNOWN_STATUSES = (MAPPED, MORE_THAN_ONE_SUBGRAPH, UNSPECIFIED_LIMITATION, UNSUPPORTED_DATA_TYPE, NOT_SUPPORTED,
                  UNSUPPORTED_RANK, NOT_CONSTANT, VERSION_NOT_SUPPORTED, TWO_D_OUTPUT)
_ROW = re.compile(r"^([A-Za-z][A-Za-z0-9_\-]*)\s+(\d+)\s+(\S.*?)\s*$")
_HEADER = re.compile(r"^Operator\s+Count\s+Status\s*$")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
_SIZE = r"([0-9]+(?:\.[0-9]+)?)(B|KiB|MiB|GiB)"
_SUMMARY = {
    "on_chip_used_bytes": re.compile(r"^On-chip memory used for caching model parameters:\s*" + _SIZE),
    "on_chip_remaining_bytes": re.compile(r"^On-chip memory remaining for caching model parameters:\s*" + _SIZE),
    "off_chip_used_bytes": re.compile(r"^Off-chip memory used for streaming uncached model parameters:\s*" + _SIZE),
}
_COUNTS = {
    "edgetpu_subgraphs": re.compile(r"^Number of Edge TPU subgraphs:\s*(\d+)\s*$"),
    "total_ops": re.compile(r"^Total number of operations:\s*(\d+)\s*$"),
}


class LogError(TpulintError):
    """The file is not a complete edgetpu_compiler log."""


@dataclass(frozen=True, slots=True)
class LogRow:
    """One row of the table: `count` ops of type `opcode` got `status`."""

    opcode: str
    count: int
    status: str
    line: str  # the row as the compiler wrote it (whitespace normalised), for bug reports

    @property
    def mapped(self) -> bool:
        return self.status == MAPPED


@dataclass(frozen=True, slots=True)
class CompilerLog:
    """What one compiler run logged."""

    path: str
    compiler_version: str | None
    rows: tuple[LogRow, ...]
    on_chip_used_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_used_bytes: int | None = None
    edgetpu_subgraphs: int | None = None
    total_ops: int | None = None

    @property
    def ops(self) -> int:
        return sum(r.count for r in self.rows)

    def counts(self) -> dict[str, int]:
        """Ops per type, in the table's order."""
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.opcode] = out.get(r.opcode, 0) + r.count
        return out

    def rows_of(self, opcode: str) -> list[LogRow]:
        return [r for r in self.rows if r.opcode == opcode]


def read_log(path: str) -> CompilerLog:
    """Parse the log at `path`; raises LogError (naming the file) when it is not a complete compiler log."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_LOG_BYTES + 1)
    except OSError as e:
        raise LogError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_LOG_BYTES:
        raise LogError(f"{path}: not an edgetpu_compiler log (over {MAX_LOG_BYTES // (1024 * 1024)} MiB)")
    return parse_log(data, path)


def parse_log(data: bytes, path: str = "<log>") -> CompilerLog:
    """Parse a log's bytes; raises LogError when they are not a complete compiler log."""
    if b"\0" in data:
        raise LogError(f"{path}: not an edgetpu_compiler log (a binary file)")
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    version = None
    summary: dict[str, int] = {}
    rows: list[LogRow] = []
    in_table = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not in_table:
            if line.startswith("Edge TPU Compiler version"):
                version = line.rsplit(" ", 1)[-1]
            elif _HEADER.match(line):
                in_table = True
            for key, pattern in _SUMMARY.items():
                m = pattern.match(line)
                if m:
                    summary[key] = round(float(m.group(1)) * _UNITS[m.group(2)])
            for key, pattern in _COUNTS.items():
                m = pattern.match(line)
                if m:
                    summary[key] = int(m.group(1))
            continue
        last = number == len(lines)
        m = _ROW.match(line)
        if m is None:
            if last:
                raise LogError(f"{path}: truncated log: its last line {line[:60]!r} is an incomplete table row")
            raise LogError(f"{path}: line {number} is not a row of the operation table: {line[:60]!r}")
        status = m.group(3)
        if last and not text.endswith(("\n", "\r")) and status not in KNOWN_STATUSES and any(
                s.startswith(status) for s in KNOWN_STATUSES):
            raise LogError(f"{path}: truncated log: its last line ends inside the status {status!r}")
        rows.append(LogRow(m.group(1), int(m.group(2)), status, f"{m.group(1)} {m.group(2)} {status}"))
    if not in_table:
        what = "truncated log: it ends before the" if version else "not an edgetpu_compiler log: it has no"
        raise LogError(f"{path}: {what} \"Operator  Count  Status\" table")
    if not rows:
        raise LogError(f"{path}: truncated log: its operation table has no rows")
    log = CompilerLog(path, version, tuple(rows), **summary)
    if log.total_ops is not None and log.ops != log.total_ops:
        raise LogError(f"{path}: truncated log: its table lists {log.ops} operations, its summary "
                       f"{log.total_ops}")
    return log


__all__ = ["CompilerLog", "KNOWN_STATUSES", "LogError", "LogRow", "parse_log", "read_log"]
