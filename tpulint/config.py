"""Settings for a run: defaults, `[tool.tpulint]` in pyproject.toml, then command-line overrides."""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tpulint.errors import RulesError

COMPILERS = ("2.0", "2.1", "14.1", "15.0", "16.0")
DEFAULT_COMPILER = "16.0"
# The runtime each compiler targets by default (`-m`): 16.0 defaults to 14 (#439); older ones to their runtime.
DEFAULT_MIN_RUNTIME = {"2.0": 13, "2.1": 13, "14.1": 13, "15.0": 13, "16.0": 14}
FAIL_ON = ("error", "warning", "cpu-op", "mismatch", "never")


@dataclass(frozen=True, slots=True)
class Config:
    """Everything that changes what tpulint predicts or reports."""

    compiler: str = DEFAULT_COMPILER
    min_runtime: int | None = None  # None: the compiler's default
    multiple_subgraphs: bool = False
    intermediate_tensors: tuple[str, ...] = ()
    select: tuple[str, ...] = ()  # codes or prefixes; empty = all rules
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, codes)
    fail_on: str = "error"
    min_tpu_ops_ratio: float | None = None
    runtime_version: int | None = None  # installed Edge TPU runtime to check compiled models against
    compare_siblings: bool = False  # compare with X_edgetpu.tflite / X_edgetpu.log found next to X.tflite

    @property
    def runtime(self) -> int:
        """The effective minimum runtime version (`-m`)."""
        return self.min_runtime if self.min_runtime is not None else DEFAULT_MIN_RUNTIME[self.compiler]

    def enabled(self, code: str, path: str | None = None) -> bool:
        """Whether findings of rule `code` are reported for the model at `path`."""
        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        if any(code.startswith(s) for s in self.ignore):
            return False
        if path is not None:
            for pattern, codes in self.per_file_ignores:
                if _path_matches(path, pattern) and any(code.startswith(c) for c in codes):
                    return False
        return True

    def validated(self) -> "Config":
        if self.compiler not in COMPILERS:
            raise RulesError(f"unknown compiler version {self.compiler!r}; known: {', '.join(COMPILERS)}")
        if self.fail_on not in FAIL_ON:
            raise RulesError(f"fail-on must be one of {', '.join(FAIL_ON)}, not {self.fail_on!r}")
        if self.min_runtime is not None and not 10 <= self.min_runtime <= 14:
            raise RulesError(f"min-runtime must be between 10 and 14, not {self.min_runtime}")
        if self.runtime_version is not None and not 1 <= self.runtime_version <= 99:
            raise RulesError(f"runtime-version must be between 1 and 99, not {self.runtime_version}")
        if self.min_tpu_ops_ratio is not None and not 0.0 <= self.min_tpu_ops_ratio <= 1.0:
            raise RulesError(f"min-tpu-ops-ratio must be between 0 and 1, not {self.min_tpu_ops_ratio}")
        return self


def _path_matches(path: str, pattern: str) -> bool:
    path = path.replace(os.sep, "/")
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern) or fnmatch.fnmatch(
        os.path.basename(path), pattern)


_KEYS: dict[str, type | tuple[type, ...]] = {
    "compiler": str, "min-runtime": int, "multiple-subgraphs": bool, "intermediate-tensors": list,
    "select": list, "ignore": list, "per-file-ignores": dict, "fail-on": str, "min-tpu-ops-ratio": (int, float),
    "runtime-version": int, "compare-siblings": bool,
}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that has a [tool.tpulint] table."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                if "[tool.tpulint" in candidate.read_text(encoding="utf-8", errors="replace"):
                    return candidate
            except OSError:
                return None
    return None


def load_pyproject(path: Path, base: Config | None = None) -> Config:
    """Read `[tool.tpulint]`; unknown keys and wrong types are errors naming the file and the key."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RulesError(f"{path}: {e}") from None
    table: dict[str, Any] = data.get("tool", {}).get("tpulint", {})
    cfg = base or Config()
    changes: dict[str, Any] = {}
    for key, value in table.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise RulesError(f"{path}: tool.tpulint.{key}: unknown key; known: {', '.join(sorted(_KEYS))}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RulesError(f"{path}: tool.tpulint.{key}: expected {getattr(kind, '__name__', 'number')}, "
                             f"got {type(value).__name__}")
        name = key.replace("-", "_")
        if key == "per-file-ignores":
            value = tuple((str(k), tuple(str(c) for c in v)) for k, v in table[key].items())
        elif isinstance(value, list):
            value = tuple(str(v) for v in value)
        changes[name] = value
    try:
        return replace(cfg, **changes).validated()
    except RulesError as e:
        raise RulesError(f"{path}: tool.tpulint: {e}") from None


def merge(cfg: Config, **overrides: Any) -> Config:
    """Apply the command-line values that were given (None means not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, **given).validated()


__all__ = ["Config", "COMPILERS", "DEFAULT_COMPILER", "FAIL_ON", "find_pyproject", "load_pyproject", "merge"]
