"""Configuration as ruff finds it: the nearest pyproject.toml above each model, patterns relative to it,
--config FILE or KEY=VALUE, --isolated; and directory search that skips .git, .venv, node_modules, what
.gitignore ignores and `exclude`/`extend-exclude`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from render_support import FIXTURES

from tpulint import cli


def project(root: Path, settings: str) -> Path:
    """root/pyproject.toml with `settings` under [tool.tpulint], and models/legacy/old.tflite (an unsupported
    FLOOR: TPU100) and models/new.tflite (maps completely)."""
    (root / "models" / "legacy").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.tpulint]\n{settings}\n")
    shutil.copy(FIXTURES / "broken_chain.tflite", root / "models" / "legacy" / "old.tflite")
    shutil.copy(FIXTURES / "int8_cnn.tflite", root / "models" / "new.tflite")
    return root


LEGACY_IGNORED = '[tool.tpulint.per-file-ignores]\n"models/legacy/*.tflite" = ["TPU1"]'


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    status = cli.main(["--format", "json", *args])
    return status, json.loads(capsys.readouterr().out)


def codes(doc: dict) -> dict[str, list[str]]:
    return {m["path"]: [f["code"] for f in m["findings"]] for m in doc["models"]}


def test_per_file_ignores_are_relative_to_the_config_from_a_subfolder(tmp_path, monkeypatch, capsys) -> None:
    project(tmp_path / "proj", LEGACY_IGNORED)
    monkeypatch.chdir(tmp_path / "proj" / "models")
    status, doc = run_json(capsys, ".")
    assert codes(doc) == {"legacy/old.tflite": [], "new.tflite": []}
    assert status == 0


def test_the_config_above_each_file_applies_from_another_folder(tmp_path, monkeypatch, capsys) -> None:
    project(tmp_path / "proj", f'compiler = "15.0"\nmin-runtime = 12\n{LEGACY_IGNORED}')
    project(tmp_path / "other", 'compiler = "14.1"')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    status, doc = run_json(capsys, "../proj/models/legacy/old.tflite", "../other/models/legacy/old.tflite",
                           "../proj/models/new.tflite")
    assert [(m["path"], m["target"]["compiler"], m["target"]["min_runtime"]) for m in doc["models"]] == [
        ("../proj/models/legacy/old.tflite", "15.0", 12), ("../other/models/legacy/old.tflite", "14.1", 13),
        ("../proj/models/new.tflite", "15.0", 12)]
    assert codes(doc)["../proj/models/legacy/old.tflite"] == []
    assert codes(doc)["../other/models/legacy/old.tflite"] == ["TPU100"]
    assert doc["target"]["compiler"] == "16.0"  # the run's own target: no config above the working folder
    assert status == 1
    # command-line options override every file's settings
    _, doc = run_json(capsys, "--compiler", "16.0", "../proj/models/new.tflite")
    assert doc["models"][0]["target"]["compiler"] == "16.0" and doc["models"][0]["target"]["min_runtime"] == 12


def test_a_model_without_config_above_it_takes_the_working_folders(tmp_path, monkeypatch, capsys) -> None:
    project(tmp_path / "proj", 'compiler = "15.0"')
    shutil.copy(FIXTURES / "int8_cnn.tflite", tmp_path / "loose.tflite")
    monkeypatch.chdir(tmp_path / "proj")
    _, doc = run_json(capsys, "../loose.tflite")
    assert doc["models"][0]["target"]["compiler"] == "15.0" and doc["target"]["compiler"] == "15.0"


def test_config_file_and_isolated(tmp_path, monkeypatch, capsys) -> None:
    project(tmp_path / "proj", 'compiler = "15.0"')
    (tmp_path / "ci.toml").write_text(f'[tool.tpulint]\ncompiler = "14.1"\n'
                                      '[tool.tpulint.per-file-ignores]\n"proj/models/legacy/*" = ["TPU100"]\n')
    monkeypatch.chdir(tmp_path / "proj" / "models")
    # --config FILE: that file for every model (none is searched), its patterns relative to its folder
    status, doc = run_json(capsys, "--config", "../../ci.toml", "legacy/old.tflite")
    assert doc["models"][0]["target"]["compiler"] == "14.1" and codes(doc) == {"legacy/old.tflite": []}
    assert status == 0
    # --config KEY=VALUE: one setting, over the file's
    _, doc = run_json(capsys, "--config", "compiler = '2.1'", "legacy/old.tflite")
    assert doc["models"][0]["target"]["compiler"] == "2.1"
    _, doc = run_json(capsys, "--config", "../../ci.toml", "--config", "fail-on = 'never'", "legacy/old.tflite")
    assert doc["models"][0]["target"]["compiler"] == "14.1"
    # --isolated: no configuration file at all
    status, doc = run_json(capsys, "--isolated", "legacy/old.tflite")
    assert doc["models"][0]["target"]["compiler"] == "16.0" and status == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "nope.toml"], "tpulint: nope.toml: no such file\n"),
    (["--config", "compiler = 15"], "tpulint: --config 'compiler = 15': tool.tpulint.compiler: expected str, got int\n"),
    (["--config", "not toml ="], "tpulint: --config 'not toml =': neither a file nor a KEY = VALUE setting\n"),
    (["--isolated", "--config", "../../ci.toml"], "tpulint: --isolated ignores every configuration file: "
                                                   "give --config FILE or --isolated, not both\n"),
])
def test_bad_config_options(tmp_path, monkeypatch, capsys, args, message) -> None:
    project(tmp_path / "proj", "")
    (tmp_path / "ci.toml").write_text("[tool.tpulint]\n")
    monkeypatch.chdir(tmp_path / "proj" / "models")
    assert cli.main([*args, "new.tflite"]) == 2
    assert capsys.readouterr().err == message


def test_a_broken_config_above_a_model_is_a_usage_error(tmp_path, monkeypatch, capsys) -> None:
    project(tmp_path / "proj", "compiler = 15.0")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["proj/models/new.tflite"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"tpulint: {tmp_path / 'proj' / 'pyproject.toml'}: tool.tpulint.compiler: expected str, got float\n"


# --- directory search ------------------------------------------------------------------------------


def tree(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "int8_cnn.tflite", root / name)


def found(*args: str) -> list[str]:
    ns = cli.build_parser().parse_args(list(args))
    return [path for path, problem in cli.iter_model_paths(ns.paths, cli.load_config(ns))]


def test_directory_search_skips_tool_folders(tmp_path, monkeypatch) -> None:
    tree(tmp_path, "m.tflite", ".venv/lib/x.tflite", "node_modules/pkg/y.tflite", ".git/lfs/z.tflite",
         "sub/.tox/t.tflite", "sub/n.tflite", "venv/v.tflite")
    monkeypatch.chdir(tmp_path)
    assert found(".") == ["m.tflite", "sub/n.tflite"]
    # a file named on the command line is always analysed, as ruff does
    assert found(".venv/lib/x.tflite") == [".venv/lib/x.tflite"]


def test_directory_search_respects_gitignore(tmp_path, monkeypatch) -> None:
    tree(tmp_path, "keep.tflite", "out/a.tflite", "sub/out/b.tflite", "cache/c.tflite", "cache/important.tflite",
         "sub/gen_1.tflite", "sub/deep/local.tflite", "docs/d.tflite", "notes/out")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("# build output\nout/\n/cache/*\n!/cache/important.tflite\n\n*gen_*.tflite\n")
    (tmp_path / "sub" / ".gitignore").write_text("deep/local.tflite\n")
    monkeypatch.chdir(tmp_path / "sub")
    assert found("..") == ["../cache/important.tflite", "../docs/d.tflite", "../keep.tflite"]
    monkeypatch.chdir(tmp_path)
    assert found(".") == ["cache/important.tflite", "docs/d.tflite", "keep.tflite"]
    assert found("--no-respect-gitignore", "sub") == ["sub/deep/local.tflite", "sub/gen_1.tflite", "sub/out/b.tflite"]
    # a .gitignore above the repository does not apply
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".git").mkdir()
    tree(tmp_path, "repo/gen_2.tflite")
    assert found("repo") == ["repo/gen_2.tflite"]


def test_exclude_and_extend_exclude(tmp_path, monkeypatch, capsys) -> None:
    tree(tmp_path, "models/a.tflite", "models/legacy/b.tflite", "models/tmp_c.tflite", ".venv/d.tflite")
    (tmp_path / "pyproject.toml").write_text('[tool.tpulint]\nextend-exclude = ["models/legacy", "tmp_*"]\n')
    monkeypatch.chdir(tmp_path)
    assert found(".") == ["models/a.tflite"]
    assert found("--isolated", ".") == ["models/a.tflite", "models/legacy/b.tflite", "models/tmp_c.tflite"]
    # `exclude` replaces the default list (.venv and friends), as in ruff
    (tmp_path / "pyproject.toml").write_text('[tool.tpulint]\nexclude = ["legacy"]\n')
    assert found(".") == [".venv/d.tflite", "models/a.tflite", "models/tmp_c.tflite"]
    assert found("--extend-exclude", "tmp_*,*.venv", ".") == ["models/a.tflite"]
    assert found("--exclude", "a.tflite", ".") == [".venv/d.tflite", "models/legacy/b.tflite", "models/tmp_c.tflite"]
    # everything excluded: the directory is reported as empty, like one without models
    assert cli.main(["--exclude", "models,.venv", "."]) == 2
    assert capsys.readouterr().err == "tpulint: .: directory contains no *.tflite files (2 excluded paths skipped)\n"


def test_excludes_compiled_into_one_expression_match_as_fnmatch_does() -> None:
    """Config.excluded tests all patterns at once; each pattern still matches as fnmatch matches the path, its
    trailing parts ("*/" + pattern) or its file name."""
    import fnmatch
    import itertools
    import os

    from tpulint import config as config_module
    from tpulint.config import DEFAULT_EXCLUDE

    def one(path: str, pattern: str) -> bool:
        path = path.replace(os.sep, "/")
        return (fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern)
                or fnmatch.fnmatch(os.path.basename(path), pattern))

    patterns = [*DEFAULT_EXCLUDE[:6], "*.tflite", "a/b", "**/x?", "[ab]*", "models/*_edgetpu.tflite", "", "x[!y]z"]
    paths = ["a/b", "x/a/b", ".git", "src/.git", "m.tflite", "models/q_edgetpu.tflite", "deep/models/q_edgetpu.tflite",
             "xqz", "xyz", "b", "abc/x1", "", "/abs/.tox", "a\nb", "dir/"]
    for n in (1, 2, 3):
        for combo in itertools.combinations(patterns, n):
            matches = config_module._matcher(combo)
            assert [matches(p) for p in paths] == [any(one(p, q) for q in combo) for p in paths], combo
