"""Load and validate the Edge TPU compiler profiles in rules/*.toml into frozen Profile values (cached per process)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tpulint import _schema
from tpulint.errors import RulesError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VERSIONS_FILE = "tflite-versions.toml"
BUILTIN_NAMES = frozenset(_schema.BUILTIN_OPERATORS.values())
FLOAT_MODEL_MODES = ("reject", "compile")
DTYPES = frozenset(_schema.TENSOR_TYPES.values())

# Every numeric/boolean limit a profile may set, with its type; each is enforced by a rule (test_profile checks it).
LIMITS: dict[str, type] = {
    "softmax_max_axis_elements": int,
    "softmax_1d_only": bool,
    "mean_z_multiple": int,
    "resize_half_pixel_centers": bool,
    "resize_max_version": int,
    "tensor_row_max_elements": int,
    "transpose_max_elements": int,
    "reshape_max_elements": int,
    "resize_bilinear_max_ratio": int,
    "resize_bilinear_max_output_elements": int,
    "mean_max_reduced_elements": int,
    "fully_connected_max_units": int,
    "fully_connected_constant_weights": bool,
    "fully_connected_1d_output": bool,
    "resize_nearest_max_output_elements": int,
}
# Limits fitted to the corpus (bench/fit.py re-fits them, also leaving one repository out): the TPU6xx sizes.
FITTED_LIMITS = ("tensor_row_max_elements", "transpose_max_elements", "reshape_max_elements",
                 "resize_bilinear_max_output_elements", "resize_nearest_max_output_elements",
                 "mean_max_reduced_elements", "fully_connected_max_units")

_SCHEMA: dict[str, Any] = {
    "profile": {"id": str, "compiler": str, "extends": str, "description": str, "source": str},
    "parser": {"accepts_tf": str, "rejects_tf": str, "float_model": str, "parsed": dict, "source": str},
    "tensors": {"dtypes": list, "bias_dtypes": list, "state_dtypes": list, "max_nontrivial_rank": int,
                "source": str},
    "ops": dict,
    "absorbed": {"ops": list, "source": str},
    "limits": LIMITS,
    "sources": {k: str for k in LIMITS},
}
_OP_KEYS = {"min_runtime": int, "max_version": int, "source": str}


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One row of the supported-operations table."""

    name: str
    min_runtime: int = 0  # 0: every runtime ("All")
    source: str = ""
    max_version: int | None = None  # newer op versions parse but are not mapped ("Operation version not supported")


@dataclass(frozen=True)
class Profile:
    """What one compiler version accepts: op table, op versions it parses, tensor rules and numeric limits."""

    id: str
    compiler: str
    description: str
    files: tuple[str, ...]  # the chain of files it was read from, base first
    accepts_tf: tuple[int, int]
    rejects_tf: tuple[int, int]
    float_model: str
    parsed: Mapping[str, int]  # op -> newest version seen parsing on this compiler (overrides the TF bracket)
    dtypes: frozenset[str]
    bias_dtypes: frozenset[str]
    state_dtypes: frozenset[str]
    max_nontrivial_rank: int
    ops: Mapping[str, OpSpec]
    absorbed: frozenset[str]
    limits: Mapping[str, Any]
    sources: Mapping[str, str]
    op_versions: Mapping[str, tuple[tuple[int, int], ...]]  # op -> TF release that first emits v1, v2, ...
    limit_origins: Mapping[str, str] = field(default_factory=dict)  # limit -> compiler whose profile file sets it

    def observed_here(self, limit: str) -> bool:
        """Whether this compiler's own profile file sets `limit` (else it is inherited from an older compiler)."""
        return self.limit_origins.get(limit) == self.compiler

    def tf_release(self, opcode: str, version: int) -> tuple[int, int] | None:
        """The TF release that first emits `opcode` at `version`, or None when the table does not know it."""
        releases = self.op_versions.get(opcode)
        if releases is None or not 1 <= version <= len(releases):
            return None
        return releases[version - 1]

    def with_limits(self, overrides: Mapping[str, Any]) -> "Profile":
        """This profile with some numeric limits replaced (fitting and leave-one-repository-out scoring)."""
        if not overrides:
            return self
        unknown = sorted(set(overrides) - set(LIMITS))
        if unknown:
            raise RulesError(f"unknown limit(s): {', '.join(unknown)}")
        return replace(self, limits=MappingProxyType({**self.limits, **overrides}),
                       limit_origins=MappingProxyType({**self.limit_origins, **{k: "fitted" for k in overrides}}))

    def doc_values(self) -> dict[str, Any]:
        """Placeholder values for rule documentation: every limit, formatted for reading."""
        values: dict[str, Any] = {}
        for key, value in self.limits.items():
            values[key] = str(value).lower() if isinstance(value, bool) else f"{value:,}" if isinstance(value, int) \
                else value
        values.update(compiler=self.compiler, dtypes=" or ".join(sorted(self.dtypes)),
                      bias_dtypes=", ".join(sorted(self.bias_dtypes)), max_nontrivial_rank=self.max_nontrivial_rank,
                      accepts_tf=_release_text(self.accepts_tf), rejects_tf=_release_text(self.rejects_tf))
        return values


def _release_text(r: tuple[int, int]) -> str:
    return f"{r[0]}.{r[1]}"


def rules_dir() -> Path:
    """Where the profiles are: tpulint/_rules inside a wheel, else the checkout's rules/ (editable installs)."""
    packaged = Path(__file__).resolve().parent / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def profile_names(directory: Path | None = None) -> list[str]:
    """Profile ids available, e.g. ['edgetpu-14.1', 'edgetpu-15.0', ...], in compiler order."""
    folder = directory or rules_dir()
    names = [p.stem for p in folder.glob("edgetpu-*.toml")]
    return sorted(names, key=lambda n: tuple(int(x) for x in n.split("-", 1)[1].split(".")))


@functools.cache
def load_profile(compiler: str = "16.0", directory: str | None = None) -> Profile:
    """The profile of a compiler version ("16.0") or id ("edgetpu-16.0"); read and validated once per process."""
    folder = Path(directory) if directory else rules_dir()
    pid = compiler if compiler.startswith("edgetpu-") else f"edgetpu-{compiler}"
    if not (folder / f"{pid}.toml").is_file():
        known = ", ".join(n.split("-", 1)[1] for n in profile_names(folder))
        raise RulesError(f"{folder}: no profile for compiler {compiler!r}; known: {known}")
    chain = _chain(folder, pid)
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, data in chain:
        _merge(merged, data)
        origins.update({k: data["profile"]["compiler"] for k in data.get("limits", {})})
    versions = _load_versions(folder / VERSIONS_FILE)
    return replace(_build(merged, [str(folder / f"{n}.toml") for n, _ in chain], versions),
                   limit_origins=MappingProxyType(origins))


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise RulesError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{path}: {e}") from None


def _chain(folder: Path, pid: str) -> list[tuple[str, dict[str, Any]]]:
    """The `extends` chain ending at `pid`, base first; each file validated on its own."""
    chain: list[tuple[str, dict[str, Any]]] = []
    seen: list[str] = []
    name: str | None = pid
    while name is not None:
        if name in seen:
            raise RulesError(f"{folder / (seen[0] + '.toml')}: profile.extends: cycle {' -> '.join(seen + [name])}")
        path = folder / f"{name}.toml"
        if not path.is_file():
            raise RulesError(f"{folder / (seen[-1] + '.toml')}: profile.extends: no profile {name!r}")
        seen.append(name)
        data = _read(path)
        _validate(path, data, expected_id=name)
        chain.append((name, data))
        name = data.get("profile", {}).get("extends")
    return chain[::-1]


def _fail(path: Path, key: str, message: str) -> RulesError:
    return RulesError(f"{path}: {key}: {message}")


def _validate(path: Path, data: dict[str, Any], expected_id: str) -> None:
    for section, value in data.items():
        spec = _SCHEMA.get(section)
        if spec is None:
            raise _fail(path, section, f"unknown table; known: {', '.join(_SCHEMA)}")
        if not isinstance(value, dict):
            raise _fail(path, section, "expected a table")
        if section == "ops":
            for op, fields in value.items():
                _check_op_name(path, f"ops.{op}", op)
                if not isinstance(fields, dict):
                    raise _fail(path, f"ops.{op}", "expected a table")
                _check_fields(path, f"ops.{op}", fields, _OP_KEYS)
                runtime = fields.get("min_runtime", 0)
                if runtime != 0 and not 10 <= runtime <= 14:
                    raise _fail(path, f"ops.{op}.min_runtime", f"must be 0 (all) or 10..14, not {runtime}")
            continue
        _check_fields(path, section, value, spec)
    profile = data.get("profile")
    if profile is None or "id" not in profile or "compiler" not in profile:
        raise _fail(path, "profile", "missing table or its id/compiler keys")
    if profile["id"] != expected_id:
        raise _fail(path, "profile.id", f"is {profile['id']!r} but the file is named {expected_id}.toml")
    parser = data.get("parser", {})
    for key in ("accepts_tf", "rejects_tf"):
        if key in parser:
            _parse_release(path, f"parser.{key}", parser[key])
    if parser.get("float_model", "reject") not in FLOAT_MODEL_MODES:
        raise _fail(path, "parser.float_model", f"must be one of {', '.join(FLOAT_MODEL_MODES)}")
    for op, version in parser.get("parsed", {}).items():
        _check_op_name(path, f"parser.parsed.{op}", op)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _fail(path, f"parser.parsed.{op}", f"expected an op version (a positive int), not {version!r}")
    for key in ("dtypes", "bias_dtypes", "state_dtypes"):
        for i, dtype in enumerate(data.get("tensors", {}).get(key, [])):
            if dtype not in DTYPES:
                raise _fail(path, f"tensors.{key}[{i}]", f"unknown tensor type {dtype!r}")
    for i, op in enumerate(data.get("absorbed", {}).get("ops", [])):
        _check_op_name(path, f"absorbed.ops[{i}]", op)
    for key, value in data.get("limits", {}).items():
        if LIMITS[key] is int and value < 0:
            raise _fail(path, f"limits.{key}", f"must not be negative, not {value}")


def _check_fields(path: Path, where: str, fields: dict[str, Any], spec: dict[str, type]) -> None:
    for key, value in fields.items():
        kind = spec.get(key)
        if kind is None:
            hint = _close_matches(key, spec)
            raise _fail(path, f"{where}.{key}", "unknown key" + (f"; did you mean {hint[0]}?" if hint else ""))
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _fail(path, f"{where}.{key}", f"expected {kind.__name__}, got {type(value).__name__}")


def _close_matches(word: str, known: Iterable[str]) -> list[str]:
    import difflib  # only for an error message: not on every run's import path

    return difflib.get_close_matches(word, known, 1)


def _check_op_name(path: Path, where: str, op: str) -> None:
    if op not in BUILTIN_NAMES:
        hint = _close_matches(op, BUILTIN_NAMES)
        raise _fail(path, where, "unknown op" + (f"; did you mean {hint[0]}?" if hint else ""))


def _parse_release(path: Path, where: str, text: Any) -> tuple[int, int]:
    parts = str(text).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise _fail(path, where, f"expected a TF release like \"2.5\", not {text!r}")
    return int(parts[0]), int(parts[1])


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    """Child keys override the parent's; tables merge key by key (ops row by row)."""
    for section, value in data.items():
        target = into.setdefault(section, {})
        for key, v in value.items():
            if isinstance(v, dict):
                target.setdefault(key, {}).update(v)
            else:
                target[key] = v


@functools.cache
def _load_versions(path: Path) -> Mapping[str, tuple[tuple[int, int], ...]]:
    data = _read(path)
    for key in data:
        if key not in ("table", "versions"):
            raise _fail(path, key, "unknown table; known: table, versions")
    _check_fields(path, "table", data.get("table", {}), {"source": str})
    out: dict[str, tuple[tuple[int, int], ...]] = {}
    for op, releases in data.get("versions", {}).items():
        _check_op_name(path, f"versions.{op}", op)
        if not isinstance(releases, list) or not releases:
            raise _fail(path, f"versions.{op}", "expected a non-empty list of TF releases")
        parsed = tuple(_parse_release(path, f"versions.{op}[{i}]", r) for i, r in enumerate(releases))
        if list(parsed) != sorted(parsed):
            raise _fail(path, f"versions.{op}", "releases must not decrease with the version")
        out[op] = parsed
    return MappingProxyType(out)


def _build(merged: dict[str, Any], files: list[str], versions: Mapping[str, tuple[tuple[int, int], ...]]) -> Profile:
    where = Path(files[-1])
    profile, parser, tensors = merged["profile"], merged.get("parser", {}), merged.get("tensors", {})
    missing = [k for k in LIMITS if k not in merged.get("limits", {})]
    if missing:
        raise _fail(where, "limits", f"missing {', '.join(missing)} (in the file or the ones it extends)")
    for key in ("accepts_tf", "rejects_tf"):
        if key not in parser:
            raise _fail(where, f"parser.{key}", "missing (in the file or the ones it extends)")
    accepts = _parse_release(where, "parser.accepts_tf", parser["accepts_tf"])
    rejects = _parse_release(where, "parser.rejects_tf", parser["rejects_tf"])
    if rejects <= accepts:
        raise _fail(where, "parser.rejects_tf", "must be a later release than accepts_tf")
    ops = {name: OpSpec(name, row.get("min_runtime", 0), row.get("source", ""), row.get("max_version"))
           for name, row in sorted(merged.get("ops", {}).items())}
    return Profile(
        id=profile["id"], compiler=profile["compiler"], description=profile.get("description", ""),
        files=tuple(files), accepts_tf=accepts, rejects_tf=rejects,
        float_model=parser.get("float_model", "reject"), parsed=MappingProxyType(dict(parser.get("parsed", {}))),
        dtypes=frozenset(tensors.get("dtypes", ("int8", "uint8"))),
        bias_dtypes=frozenset(tensors.get("bias_dtypes", ("int32",))),
        state_dtypes=frozenset(tensors.get("state_dtypes", ())),
        max_nontrivial_rank=tensors.get("max_nontrivial_rank", 3),
        ops=MappingProxyType(ops), absorbed=frozenset(merged.get("absorbed", {}).get("ops", ())),
        limits=MappingProxyType(dict(merged["limits"])), sources=MappingProxyType(dict(merged.get("sources", {}))),
        op_versions=versions,
    )


__all__ = ["FITTED_LIMITS", "LIMITS", "OpSpec", "Profile", "load_profile", "profile_names", "rules_dir"]
