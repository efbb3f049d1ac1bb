"""rules/*.toml: every profile loads; validation errors name the file and the dotted key; extends; resolution."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tflite

from tpulint import _schema
from tpulint.errors import RulesError
from tpulint.profile import load_profile, profile_names, rules_dir

ROOT = Path(__file__).resolve().parent.parent


def test_builtin_operators_mirror_tflite() -> None:
    enum = {getattr(tflite.BuiltinOperator, k): k for k in dir(tflite.BuiltinOperator) if not k.startswith("_")}
    assert _schema.BUILTIN_OPERATORS == enum


def test_every_profile_loads_and_extends_the_previous_one() -> None:
    names = profile_names()
    assert names == ["edgetpu-2.0", "edgetpu-2.1", "edgetpu-14.1", "edgetpu-15.0", "edgetpu-16.0"]
    profiles = [load_profile(n.split("-", 1)[1]) for n in names]
    for older, newer in zip(profiles, profiles[1:]):
        assert set(older.ops) <= set(newer.ops)
        assert newer.files[:-1] == older.files
    p16 = profiles[-1]
    assert len(p16.ops) == 40  # the 40 rows of the current coral.ai table
    assert "TRANSPOSE" in p16.ops and "TRANSPOSE" not in profiles[3].ops
    assert p16.ops["PACK"].min_runtime == 13 and p16.ops["TRANSPOSE"].min_runtime == 14
    assert (p16.accepts_tf, p16.rejects_tf, p16.float_model) == ((2, 5), (2, 7), "compile")
    assert profiles[3].float_model == "reject" and profiles[0].limits["softmax_1d_only"] is True
    assert load_profile("16.0") is load_profile("16.0")  # read once per process


def test_rules_dir_is_the_checkout_rules_in_an_editable_install() -> None:
    assert sorted(p.name for p in rules_dir().glob("*.toml")) == sorted(p.name for p in (ROOT / "rules").glob("*.toml"))
    assert {p.name for p in (ROOT / "rules").iterdir()} - {p.name for p in (ROOT / "rules").glob("*.toml")} == \
        {"README.md"}


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("name, old, new, message", [
    ("edgetpu-2.0.toml", "[ops.CONV_2D]", "[ops.CONV2D]", "ops.CONV2D: unknown op; did you mean CONV_2D?"),
    ("edgetpu-2.0.toml", "mean_z_multiple = 4", "mean_z_multple = 4",
     "limits.mean_z_multple: unknown key; did you mean mean_z_multiple?"),
    ("edgetpu-2.0.toml", "mean_z_multiple = 4", "mean_z_multiple = \"4\"", "limits.mean_z_multiple: expected int, got str"),
    ("edgetpu-2.0.toml", "min_runtime = 13\nsource = \"CHANGES.md (runtime v13)\"\n[ops.QUANTIZE]",
     "min_runtime = 9\nsource = \"x\"\n[ops.QUANTIZE]", "ops.PACK.min_runtime: must be 0 (all) or 10..14, not 9"),
    ("edgetpu-2.0.toml", "[limits]", "[limit]", "limit: unknown table"),
    ("edgetpu-2.0.toml", 'float_model = "reject"', 'float_model = "maybe"', "parser.float_model: must be one of"),
    ("edgetpu-2.0.toml", 'dtypes = ["int8", "uint8"]', 'dtypes = ["int8", "uint7"]',
     "tensors.dtypes[1]: unknown tensor type 'uint7'"),
    ("edgetpu-2.0.toml", 'ops = ["TILE"]', 'ops = ["TILES"]', "absorbed.ops[0]: unknown op; did you mean TILE?"),
    ("edgetpu-16.0.toml", 'accepts_tf = "2.5"', 'accepts_tf = "2.x"', "parser.accepts_tf: expected a TF release"),
    ("edgetpu-16.0.toml", 'extends = "edgetpu-15.0"', 'extends = "edgetpu-15.5"', "profile.extends: no profile"),
    ("edgetpu-16.0.toml", 'id = "edgetpu-16.0"', 'id = "edgetpu-16"', "profile.id: is 'edgetpu-16' but"),
    ("tflite-versions.toml", 'RSQRT = ["1.10", "2.5"]', 'RSQRT = ["2.5", "1.10"]', "versions.RSQRT: releases must not"),
    ("edgetpu-16.0.toml", "[ops.RSQRT]", "[ops.RSQRT\n", "edgetpu-16.0.toml: "),
])
def test_validation_errors_name_file_and_key(rules_copy: Path, name: str, old: str, new: str, message: str) -> None:
    edit(rules_copy, name, old, new)
    with pytest.raises(RulesError) as e:
        load_profile("16.0", str(rules_copy))
    text = str(e.value)
    assert message in text
    assert text.startswith(str(rules_copy / name)) and "\n" not in text


def test_extends_cycle_is_an_error(rules_copy: Path) -> None:
    edit(rules_copy, "edgetpu-2.0.toml", 'id = "edgetpu-2.0"\n', 'id = "edgetpu-2.0"\nextends = "edgetpu-16.0"\n')
    with pytest.raises(RulesError, match="cycle edgetpu-16.0 -> edgetpu-15.0 -> .* -> edgetpu-16.0"):
        load_profile("16.0", str(rules_copy))


def test_missing_limit_is_an_error(rules_copy: Path) -> None:
    edit(rules_copy, "edgetpu-2.0.toml", "mean_z_multiple = 4\n", "")
    with pytest.raises(RulesError, match="limits: missing mean_z_multiple"):
        load_profile("15.0", str(rules_copy))


def test_unknown_compiler() -> None:
    with pytest.raises(RulesError, match="no profile for compiler '17.0'; known: 2.0, 2.1, 14.1, 15.0, 16.0"):
        load_profile("17.0")


def test_config_compilers_match_the_profiles() -> None:
    from tpulint.config import COMPILERS, DEFAULT_COMPILER, DEFAULT_MIN_RUNTIME

    assert tuple(n.split("-", 1)[1] for n in profile_names()) == COMPILERS
    assert DEFAULT_COMPILER == "16.0" and set(DEFAULT_MIN_RUNTIME) == set(COMPILERS)
