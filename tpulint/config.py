"""Settings for a run: defaults, `[tool.tpulint]` in pyproject.toml, then command-line overrides."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from tpulint.errors import RulesError

COMPILERS = ("2.0", "2.1", "14.1", "15.0", "16.0")
DEFAULT_COMPILER = "16.0"
# The runtime each compiler targets by default (`-m`): 16.0 defaults to 14 (#439); older ones to their runtime.
DEFAULT_MIN_RUNTIME = {"2.0": 13, "2.1": 13, "14.1": 13, "15.0": 13, "16.0": 14}
FAIL_ON = ("error", "warning", "cpu-op", "mismatch", "never")
SEVERITIES = ("error", "warning", "info")
# Folders a directory search never enters unless `exclude` is set (ruff's list, less build/dist, where models are
# often exported to).
DEFAULT_EXCLUDE = (".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache",
                   ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv",
                   ".vscode", "__pypackages__", "buck-out", "node_modules", "site-packages", "venv")


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
    limits: tuple[tuple[str, int], ...] = ()  # overrides of the profile's fitted size limits (bench/fit.py)
    severity: tuple[tuple[str, str], ...] = ()  # (code or prefix, level): overrides the severity by cost
    source: str | None = None  # uncompiled model of the compiled one analysed (`--source`)
    root: str | None = None  # folder of the configuration file: per-file-ignores and excludes are relative to it
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE  # globs of files and folders a directory search skips
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    compare_siblings: bool = False  # compare with X_edgetpu.tflite / X_edgetpu.log found next to X.tflite

    def for_path(self, path: str) -> "Config":
        """The settings for the model at `path`: these (Discovery finds each model's own)."""
        return self

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
            path = self.relative(path)
            for pattern, codes in self.per_file_ignores:
                if _path_matches(path, pattern) and any(code.startswith(c) for c in codes):
                    return False
        return True

    def severity_of(self, code: str) -> str | None:
        """The configured severity for rule `code` (the longest matching code or prefix wins), or None."""
        matches = [(len(key), level) for key, level in self.severity if code.startswith(key)]
        return max(matches)[1] if matches else None

    def relative(self, path: str) -> str:
        """`path` relative to the configuration's folder when it lies inside it, else as given."""
        if self.root is None:
            return path
        rel = os.path.relpath(os.path.abspath(path), self.root)
        return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel

    def excluded(self, path: str) -> bool:
        """Whether a directory search skips the file or folder `path` (`exclude` and `extend-exclude`)."""
        return _matcher((*self.exclude, *self.extend_exclude))(self.relative(path))

    def validated(self) -> "Config":
        if self.compiler not in COMPILERS:
            raise RulesError(f"unknown compiler version {self.compiler!r}; known: {', '.join(COMPILERS)}")
        if self.fail_on not in FAIL_ON:
            raise RulesError(f"fail-on must be one of {', '.join(FAIL_ON)}, not {self.fail_on!r}")
        if self.min_runtime is not None and not 10 <= self.min_runtime <= 14:
            raise RulesError(f"min-runtime must be between 10 and 14, not {self.min_runtime}")
        if self.runtime_version is not None and not 1 <= self.runtime_version <= 99:
            raise RulesError(f"runtime-version must be between 1 and 99, not {self.runtime_version}")
        for key, level in self.severity:
            if not _RULE_KEY.match(key):
                raise RulesError(f"severity.{key}: not a rule code or prefix (e.g. TPU201 or TPU2)")
            if level not in SEVERITIES:
                raise RulesError(f"severity.{key}: must be one of {', '.join(SEVERITIES)}, not {level!r}")
        if self.min_tpu_ops_ratio is not None and not 0.0 <= self.min_tpu_ops_ratio <= 1.0:
            raise RulesError(f"min-tpu-ops-ratio must be between 0 and 1, not {self.min_tpu_ops_ratio}")
        return self


_RULE_KEY = re.compile(r"^TPU\d{0,3}$")


def _path_matches(path: str, pattern: str) -> bool:
    return _matcher((pattern,))(path)


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a path matches any of `patterns`: the path itself, any of its trailing parts ("*/" + pattern)
    or its file name, as fnmatch.fnmatch matches them, with all the patterns compiled into one expression
    (a directory search tests every file against the 23 default excludes: 35,000 fnmatch calls for 500)."""
    whole = re.compile("|".join(fnmatch.translate(os.path.normcase(p)) for pat in patterns
                                for p in (pat, "*/" + pat)) or "(?!)")
    name = re.compile("|".join(fnmatch.translate(os.path.normcase(pat)) for pat in patterns) or "(?!)")

    def matches(path: str) -> bool:
        path = path.replace(os.sep, "/")
        return bool(whole.match(os.path.normcase(path)) or name.match(os.path.normcase(os.path.basename(path))))

    return matches


_KEYS: dict[str, type | tuple[type, ...]] = {
    "compiler": str, "min-runtime": int, "multiple-subgraphs": bool, "intermediate-tensors": list,
    "select": list, "ignore": list, "per-file-ignores": dict, "fail-on": str, "min-tpu-ops-ratio": (int, float),
    "runtime-version": int, "severity": dict, "exclude": list, "extend-exclude": list, "respect-gitignore": bool,
    "compare-siblings": bool,
}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that has a [tool.tpulint] table."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if _has_table(candidate):
            return candidate
    return None


def _has_table(candidate: Path) -> bool:
    try:
        return candidate.is_file() and "[tool.tpulint" in candidate.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def load_pyproject(path: Path, base: Config | None = None) -> Config:
    """Read `[tool.tpulint]`; unknown keys and wrong types are errors naming the file and the key. Patterns
    in it are relative to the file's folder."""
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RulesError(f"{path}: {e}") from None
    table = _tpulint_table(data, path)
    return load_table(table, str(path), replace(base or Config(), root=os.path.abspath(path.parent)))


def load_table(table: dict[str, Any], source: str, cfg: Config) -> Config:
    """`cfg` with the settings of a [tool.tpulint] table read from `source` (named in errors)."""
    changes: dict[str, Any] = {}
    for key, value in table.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise RulesError(f"{source}: tool.tpulint.{key}: unknown key; known: {', '.join(sorted(_KEYS))}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RulesError(f"{source}: tool.tpulint.{key}: expected {getattr(kind, '__name__', 'number')}, "
                             f"got {type(value).__name__}")
        name = key.replace("-", "_")
        try:
            if key == "per-file-ignores" and isinstance(value, dict):
                value = tuple((str(k), _strings(v, f"per-file-ignores.{_toml_key(str(k))}"))
                              for k, v in value.items())
            elif key == "severity" and isinstance(value, dict):
                value = tuple((str(k), v if isinstance(v, str) else repr(v)) for k, v in value.items())
            elif isinstance(value, list):
                value = _strings(value, key)
            changes[name] = value
            check_codes(replace(cfg, **changes))
        except InvalidValue as e:
            raise RulesError(f"{source}: tool.tpulint.{e.key}: {e.problem}") from None
    try:
        return replace(cfg, **changes).validated()
    except RulesError as e:
        raise RulesError(f"{source}: tool.tpulint: {e}") from None


def inline_setting(text: str) -> dict[str, Any] | None:
    """The table of a `--config "KEY = VALUE"` setting, or None when `text` is not one (then it names a file)."""
    if "=" not in text or os.path.exists(text):
        return None
    try:
        return dict(_toml().loads(text))
    except _toml().TOMLDecodeError:
        raise RulesError(f"--config {text!r}: neither a file nor a KEY = VALUE setting") from None


@dataclass
class Discovery:
    """Each model's settings, found as ruff finds them: the nearest pyproject.toml with [tool.tpulint] above
    the model, else the one above the working folder (`default`), then the `--config KEY=VALUE` settings and
    the command-line options over it. With `search` off (--config FILE, --isolated), `default` for every model."""

    default: Config
    inline: tuple[tuple[str, dict[str, Any]], ...] = ()  # (label, table) of each --config KEY=VALUE
    options: dict[str, Any] = field(default_factory=dict)  # the command-line values given
    search: bool = True
    _folders: dict[str, Config] = field(default_factory=dict)  # folder -> the settings of models in it
    _files: dict[str, Config] = field(default_factory=dict)  # pyproject.toml -> its settings

    @classmethod
    def start(cls, config_file: Path | None, inline: tuple[tuple[str, dict[str, Any]], ...],
              options: dict[str, Any], isolated: bool, cwd: Path) -> "Discovery":
        found = None if isolated else config_file or find_pyproject(cwd)
        run = cls(Config(), inline, options, search=not (isolated or config_file))
        run.default = run.settings(found)
        return run

    def settings(self, pyproject: Path | None) -> Config:
        """The settings a configuration file (None: no file) gives, with the overrides applied."""
        key = str(pyproject)
        if key not in self._files:
            cfg = load_pyproject(pyproject) if pyproject is not None else Config()
            for label, table in self.inline:
                cfg = load_table(table, label, cfg)
            self._files[key] = merge(cfg, **self.options)
        return self._files[key]

    def for_path(self, path: str) -> Config:
        """The settings of the model at `path` (raises RulesError for a broken configuration above it)."""
        if not self.search:
            return self.default
        return self._for_folder(os.path.dirname(os.path.abspath(path)))

    def _for_folder(self, folder: str) -> Config:
        cfg = self._folders.get(folder)
        if cfg is None:
            candidate = Path(folder) / "pyproject.toml"
            parent = os.path.dirname(folder)
            if _has_table(candidate):
                cfg = self.settings(candidate)
            else:
                cfg = self.default if parent == folder else self._for_folder(parent)
            self._folders[folder] = cfg
        return cfg


def _tpulint_table(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """[tool.tpulint], checked to be a table (`tool = "x"` or `tool.tpulint = 5` are errors, not tracebacks)."""
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise RulesError(f"{path}: tool: expected a table, got {type(tool).__name__}")
    table = tool.get("tpulint", {})
    if not isinstance(table, dict):
        raise RulesError(f"{path}: tool.tpulint: expected a table, got {type(table).__name__}")
    return table


def _toml_key(key: str) -> str:
    import json

    return json.dumps(key, ensure_ascii=False)


class InvalidValue(RulesError):
    """A setting with a value of the wrong type or an unknown rule code; `key` names the setting."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def _strings(value: Any, key: str) -> tuple[str, ...]:
    """A list of strings (a string alone is not one: "TPU1" must not become ("T", "P", "U", "1"))."""
    if not isinstance(value, (list, tuple)):
        raise InvalidValue(key, f"expected a list of strings, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise InvalidValue(key, f"expected a list of strings, got an item of type {type(item).__name__}")
    return tuple(value)


def check_codes(cfg: Config) -> None:
    """Every code in select, ignore and per-file-ignores names a rule or a prefix of one (InvalidValue with the
    closest known codes otherwise: a typo would silently report nothing, or everything)."""
    lists = [("select", cfg.select), ("ignore", cfg.ignore)]
    lists += [(f"per-file-ignores.{_toml_key(pattern)}", codes) for pattern, codes in cfg.per_file_ignores]
    if not any(codes for _, codes in lists):
        return
    from tpulint.registry import all_rules

    known = sorted(r.code for r in all_rules())
    for key, codes in lists:
        for code in codes:
            if not any(k.startswith(code) for k in known) or not code:
                import difflib

                shared = next((code[:n] for n in range(len(code), 0, -1) if any(k.startswith(code[:n]) for k in known)), "")
                pool = [k for k in known if k.startswith(shared)]  # TPU1OO: among the TPU1xx codes first
                scored = sorted((-difflib.SequenceMatcher(None, code.upper(), k).ratio(), k) for k in pool)
                close = [k for score, k in scored[:3] if -score >= 0.6]  # ties in code order (difflib: reversed)
                hint = f"; did you mean {', '.join(close)}?" if close else "; `tpulint rule --all` lists the codes"
                raise InvalidValue(key, f"unknown rule code {code!r}{hint}")


def merge(cfg: Config, **overrides: Any) -> Config:
    """Apply the command-line (or API) values that were given (None means not given).

    TypeError for an unknown option or a value of the wrong type (a string where a list of strings is
    expected included); RulesError (InvalidValue: with the option's name) for a value out of range or an
    unknown rule code."""
    given = {k: _option(k, v) for k, v in overrides.items() if v is not None}
    merged = replace(cfg, **given).validated()
    check_codes(merged)
    return merged


_OPTION_TYPES: dict[str, Any] = {
    "compiler": str, "min_runtime": int, "multiple_subgraphs": bool, "intermediate_tensors": list,
    "select": list, "ignore": list, "per_file_ignores": dict, "fail_on": str, "min_tpu_ops_ratio": (int, float),
    "runtime_version": int, "source": str, "severity": "levels", "limits": "limits",
    "exclude": list, "extend_exclude": list, "respect_gitignore": bool,
}


def _option(key: str, value: Any) -> Any:
    kind = _OPTION_TYPES.get(key)
    if kind is None:
        raise TypeError(f"unknown option {key!r}; known: {', '.join(_OPTION_TYPES)}")
    name = key.replace("_", "-")
    if kind in ("levels", "limits"):  # {code: "warning"} / {limit: 12345}
        if not isinstance(value, dict):
            raise TypeError(f"{key}: expected a mapping, got {type(value).__name__}")
        wanted = str if kind == "levels" else int
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, wanted) or isinstance(v, bool):
                raise TypeError(f"{key}.{k}: expected {wanted.__name__}, got {type(v).__name__}")
        return tuple(sorted(value.items()))
    try:
        if kind is list:
            return _strings(value, name)
        if kind is dict:
            pairs = value.items() if isinstance(value, dict) else value
            return tuple((str(p), _strings(c, f"{name}.{_toml_key(str(p))}")) for p, c in pairs)
    except (InvalidValue, TypeError, ValueError) as e:
        raise TypeError(f"{key}: {getattr(e, 'problem', None) or 'expected a mapping of patterns to lists of codes'}") from None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = "a number" if kind == (int, float) else kind.__name__
        raise TypeError(f"{key}: expected {expected}, got {type(value).__name__}")
    return value


__all__ = ["Config", "COMPILERS", "DEFAULT_COMPILER", "DEFAULT_EXCLUDE", "Discovery", "FAIL_ON", "InvalidValue",
           "check_codes", "find_pyproject", "inline_setting", "load_pyproject", "load_table", "merge"]
