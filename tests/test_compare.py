"""--compare / --compare-log on generated models: attribution, ambiguity, files that do not belong, every format."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgetpu_package import custom_options, standard_package

from tpulint import cli
from tpulint._version import __version__
from tpulint.compare import CompareError, actual_for
from tpulint.compiler_log import LogError, parse_log
from tpulint.graph import Graph
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder

Q = (0.05, 0)
CHAIN = ["RELU", "FLOOR", "RELU", "RELU"]  # tpulint: op 0 on the Edge TPU, FLOOR on the CPU, ops 2-3 cut off
NAMES = ["input", "relu_0", "floor_1", "relu_2", "relu_3"]
AGREEING_LOG = """Edge TPU Compiler version 16.0.384591198
Input: chain.tflite
Output: chain_edgetpu.tflite

Operator                       Count      Status

RELU                           1          Mapped to Edge TPU
FLOOR                          1          Operation not supported
RELU                           2          More than one subgraph is not supported
"""
# A log as if the compiler had mapped the two RELUs after FLOOR in a second Edge TPU subgraph (-a).
DISAGREEING_LOG = AGREEING_LOG.replace("RELU                           2          More than one subgraph is not supported",
                                       "RELU                           2          Mapped to Edge TPU")


def chain() -> bytes:
    b = ModelBuilder()
    b.tensor("input", [1, 8, 8, 4], "int8", quant=Q)
    for i, opcode in enumerate(CHAIN):
        b.tensor(NAMES[i + 1], [1, 8, 8, 4], "int8", quant=Q)
        b.op(opcode, [NAMES[i]], [NAMES[i + 1]])
    return b.io(["input"], ["relu_3"]).build()


def compiled_chain(tpu_spans: list[tuple[int, int]], rename: dict[str, str] | None = None) -> bytes:
    """The chain compiled with ops [a, b) of each span inside one edgetpu-custom-op, the others left as they are."""
    rename = rename or {}
    name = [rename.get(n, n) for n in NAMES]
    b = ModelBuilder("Exported from Subgraph.")
    for n in name:
        b.tensor(n, [1, 8, 8, 4], "int8", quant=Q)
    i = 0
    options = custom_options(standard_package())
    while i < len(CHAIN):
        span = next((s for s in tpu_spans if s[0] == i), None)
        if span is not None:
            b.op("CUSTOM", [name[span[0]]], [name[span[1]]], custom_code="edgetpu-custom-op", custom_options=options)
            i = span[1]
        else:
            b.op(CHAIN[i], [name[i]], [name[i + 1]])
            i += 1
    return b.io([name[0]], [name[-1]]).build()


def two_reshapes() -> bytes:
    """input -> RESHAPE -> a, input -> RESHAPE -> b: two ops the log's counts cannot tell apart."""
    b = ModelBuilder()
    b.tensor("input", [1, 4, 4, 4], "int8", quant=Q)
    b.tensor("shape", [2], "int32", data=bytes(8))
    for out in ("a", "b"):
        b.tensor(out, [1, 64], "int8", quant=Q)
        b.op("RESHAPE", ["input", "shape"], [out])
    return b.io(["input"], ["a", "b"]).build()


def attribute(source: bytes, tmp_path: Path, compiled: bytes | None = None, log: str | None = None):
    model = read_model_bytes(source, "chain.tflite")
    paths = [None, None]
    if compiled is not None:
        paths[0] = str(tmp_path / "chain_edgetpu.tflite")
        Path(paths[0]).write_bytes(compiled)
    if log is not None:
        paths[1] = str(tmp_path / "chain_edgetpu.log")
        Path(paths[1]).write_text(log)
    return actual_for(model, Graph.build(model.main), paths[0], paths[1])


def placements(actual) -> list[tuple]:
    return [(o.placement, o.status, o.segment, o.compiled_op) for o in actual.ops]


def test_compiled_model_attributes_every_op(tmp_path: Path) -> None:
    actual = attribute(chain(), tmp_path, compiled_chain([(0, 1)]))
    assert placements(actual) == [("tpu", "Mapped to Edge TPU", 0, 0), ("cpu", None, None, 1),
                                  ("cpu", None, None, 2), ("cpu", None, None, 3)]
    assert [(s.ops, s.inputs, s.outputs) for s in actual.segments] == [((0,), ("input",), ("relu_0",))]
    assert actual.cached_bytes == 3000 and actual.streamed_bytes == 500


def test_two_edgetpu_ops_are_two_subgraphs(tmp_path: Path) -> None:
    actual = attribute(chain(), tmp_path, compiled_chain([(0, 1), (2, 4)]))
    assert placements(actual) == [("tpu", "Mapped to Edge TPU", 0, 0), ("cpu", None, None, 1),
                                  ("tpu", "Mapped to Edge TPU", 1, 2), ("tpu", "Mapped to Edge TPU", 1, 2)]


def test_renamed_boundary_tensors_are_matched_through_the_cpu_ops(tmp_path: Path) -> None:
    # As in the old PoseNet compile: the edgetpu-custom-op's output got a new name, the CPU op reading it did not.
    actual = attribute(chain(), tmp_path, compiled_chain([(0, 1)], rename={"relu_0": "quant_relu_0"}))
    assert placements(actual)[0] == ("tpu", "Mapped to Edge TPU", 0, 0)
    assert actual.segments[0].outputs == ("relu_0",)


def test_compiled_and_log_give_statuses(tmp_path: Path) -> None:
    actual = attribute(chain(), tmp_path, compiled_chain([(0, 1)]), AGREEING_LOG)
    assert [o.status for o in actual.ops] == ["Mapped to Edge TPU", "Operation not supported",
                                              "More than one subgraph is not supported",
                                              "More than one subgraph is not supported"]
    assert actual.compiler_version == "16.0.384591198"


def test_log_alone_resolves_what_the_counts_and_the_cut_decide(tmp_path: Path) -> None:
    # RELU has two statuses, but op 0 has nothing unmapped upstream, so it cannot be "More than one subgraph".
    actual = attribute(chain(), tmp_path, log=AGREEING_LOG)
    assert placements(actual) == [("tpu", "Mapped to Edge TPU", None, None),
                                  ("cpu", "Operation not supported", None, None),
                                  ("cpu", "More than one subgraph is not supported", None, None),
                                  ("cpu", "More than one subgraph is not supported", None, None)]


def test_log_leaves_ambiguous_ops_ambiguous(tmp_path: Path) -> None:
    log = AGREEING_LOG.split("RELU ")[0] + ("RESHAPE                        1          Mapped to Edge TPU\n"
                                             "RESHAPE                        1          Operation is otherwise supported, "
                                             "but not mapped due to some unspecified limitation\n")
    actual = attribute(two_reshapes(), tmp_path, log=log)
    expected = (("Mapped to Edge TPU", 1),
                ("Operation is otherwise supported, but not mapped due to some unspecified limitation", 1))
    assert [(o.placement, o.status, o.candidates) for o in actual.ops] == [(None, None, expected)] * 2


@pytest.mark.parametrize("log, message", [
    (AGREEING_LOG.replace("FLOOR", "CONV_2D"),
     "chain_edgetpu.log: not the log of chain.tflite: it lists 1 CONV_2D op, the model has 0"),
    (AGREEING_LOG.replace("RELU                           2", "RELU                           5"),
     "chain_edgetpu.log: not the log of chain.tflite: it lists 6 RELU ops, the model has 3"),
    (AGREEING_LOG.rsplit("\n", 2)[0] + "\n",
     "chain_edgetpu.log: lists 2 operations, chain.tflite has 4 (not in the log: RELU 2): "
     "a truncated log, or the log of another model"),
])
def test_log_of_another_model(tmp_path: Path, log: str, message: str) -> None:
    with pytest.raises(CompareError) as e:
        attribute(chain(), tmp_path, log=log)
    assert str(e.value).replace(str(tmp_path) + "/", "") == message


@pytest.mark.parametrize("data, message", [
    (AGREEING_LOG[:-20].encode(), "x.log: truncated log: its last line ends inside the status 'More than one subgra'"),
    (AGREEING_LOG.split("Operator")[0].encode(),
     "x.log: truncated log: it ends before the \"Operator  Count  Status\" table"),
    (AGREEING_LOG.split("RELU ")[0].encode(), "x.log: truncated log: its operation table has no rows"),
    (b"TFL3\0\0\0", "x.log: not an edgetpu_compiler log (a binary file)"),
    (b"hello\n", "x.log: not an edgetpu_compiler log: it has no \"Operator  Count  Status\" table"),
    (AGREEING_LOG.replace("FLOOR                          1 ", "FLOOR      ").encode(),
     "x.log: line 8 is not a row of the operation table: 'FLOOR               Operation not supported'"),
    (b"Total number of operations: 9\n" + AGREEING_LOG.encode(),
     "x.log: truncated log: its table lists 4 operations, its summary 9"),
])
def test_bad_logs(data: bytes, message: str) -> None:
    with pytest.raises(LogError) as e:
        parse_log(data, "x.log")
    assert str(e.value) == message


def test_log_summary_lines_are_read() -> None:
    log = parse_log(b"Edge TPU Compiler version 15.0.340273435\n\nModel compiled successfully in 343 ms.\n"
                    b"On-chip memory used for caching model parameters: 714.50KiB\n"
                    b"On-chip memory remaining for caching model parameters: 7.15MiB\n"
                    b"Off-chip memory used for streaming uncached model parameters: 0.00B\n"
                    b"Number of Edge TPU subgraphs: 1\nTotal number of operations: 31\n\n"
                    b"Operator                       Count      Status\n\n"
                    b"CONV_2D                        18         Mapped to Edge TPU\r\n"
                    b"DEPTHWISE_CONV_2D              13         Mapped to Edge TPU\r\n")
    assert (log.compiler_version, log.on_chip_used_bytes, log.on_chip_remaining_bytes, log.off_chip_used_bytes,
            log.edgetpu_subgraphs, log.total_ops, log.ops) == ("15.0.340273435", 731648, 7497318, 0, 1, 31, 31)


def test_compiled_file_of_another_source(tmp_path: Path) -> None:
    other = ModelBuilder("Exported from Subgraph.")
    other.tensor("image", [1, 8, 8, 4], "int8", quant=Q).tensor("logits", [1, 8, 8, 4], "int8", quant=Q)
    other.op("CUSTOM", ["image"], ["logits"], custom_code="edgetpu-custom-op",
             custom_options=custom_options(standard_package()))
    other.tensor("probs", [1, 8, 8, 4], "float32").op("DEQUANTIZE", ["logits"], ["probs"])
    with pytest.raises(CompareError) as e:
        attribute(chain(), tmp_path, other.io(["image"], ["probs"]).build())
    assert str(e.value).replace(str(tmp_path) + "/", "") == (
        "chain_edgetpu.tflite: not compiled from chain.tflite: its op 1 DEQUANTIZE has no counterpart in the source model")
    other = ModelBuilder("Exported from Subgraph.")
    other.tensor("image", [1, 8, 8, 4], "int8", quant=Q).tensor("logits", [1, 8, 8, 4], "int8", quant=Q)
    other.op("CUSTOM", ["image"], ["logits"], custom_code="edgetpu-custom-op",
             custom_options=custom_options(standard_package()))
    with pytest.raises(CompareError) as e:
        attribute(chain(), tmp_path, other.io(["image"], ["logits"]).build())
    assert str(e.value).replace(str(tmp_path) + "/", "") == (
        "chain_edgetpu.tflite: not compiled from chain.tflite: the tensor 'image' of its edgetpu-custom-op 0 is not in it")
    with pytest.raises(CompareError) as e:
        attribute(chain(), tmp_path, chain())
    assert str(e.value).endswith("chain_edgetpu.tflite: not a compiled model: it has no edgetpu-custom-op")


# --- the command line --------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.tpulint]\n")
    (tmp_path / "chain.tflite").write_bytes(chain())
    (tmp_path / "chain_edgetpu.tflite").write_bytes(compiled_chain([(0, 1), (2, 4)]))
    (tmp_path / "chain_edgetpu.log").write_text(DISAGREEING_LOG)
    (tmp_path / "agree_edgetpu.tflite").write_bytes(compiled_chain([(0, 1)]))
    (tmp_path / "agree_edgetpu.log").write_text(AGREEING_LOG)
    return tmp_path


@pytest.mark.parametrize("fmt, ext", [("concise", "txt"), ("full", "txt"), ("json", "json"), ("markdown", "md"),
                                      ("html", "html")])
def test_compare_report_formats(files: Path, golden, capsys, fmt: str, ext: str) -> None:
    status = cli.main(["--compare", "chain_edgetpu.tflite", "--compare-log", "chain_edgetpu.log", "chain.tflite",
                       "--format", fmt])
    out = capsys.readouterr().out.replace(__version__, "VERSION")
    assert status == 1  # FLOOR's TPU100 error
    golden(f"compare.{fmt}.{ext}", out)


@pytest.mark.parametrize("args, status", [
    (["--compare", "chain_edgetpu.tflite", "--fail-on", "mismatch"], 1),
    (["--compare", "agree_edgetpu.tflite", "--compare-log", "agree_edgetpu.log", "--fail-on", "mismatch"], 0),
    (["--compare-log", "agree_edgetpu.log", "--fail-on", "mismatch"], 0),
    (["--compare-log", "chain_edgetpu.log", "--fail-on", "mismatch"], 1),
    (["--compare-log", "chain_edgetpu.log", "--fail-on", "mismatch", "--exit-zero"], 0),
])
def test_fail_on_mismatch(files: Path, capsys, args: list[str], status: int) -> None:
    assert cli.main(args + ["chain.tflite"]) == status


@pytest.mark.parametrize("args, message", [
    (["--compare-log", "chain.tflite", "chain.tflite"], "tpulint: chain.tflite: not an edgetpu_compiler log (a binary file)\n"),
    (["--compare", "missing_edgetpu.tflite", "chain.tflite"], "tpulint: missing_edgetpu.tflite: no such file\n"),
    (["--compare-log", ".", "chain.tflite"], "tpulint: .: not a file\n"),
    (["--compare", "chain_edgetpu.tflite", "chain.tflite", "agree_edgetpu.tflite"],
     "tpulint: --compare and --compare-log take exactly one model to compare with\n"),
    (["--compare", "chain_edgetpu.tflite", "chain_edgetpu.tflite"],
     "tpulint: chain_edgetpu.tflite: already compiled; compare the source model with it\n"),
])
def test_compare_usage_errors(files: Path, capsys, args: list[str], message: str) -> None:
    assert cli.main(args + ["--format", "json", "-o", "out.json"]) == 2
    assert capsys.readouterr().err == message


def test_truncated_log_is_exit_2_and_other_models_still_reported(files: Path, capsys) -> None:
    (files / "chain_edgetpu.log").write_text(AGREEING_LOG[:-20])
    (files / "agree.tflite").write_bytes(chain())
    (files / "pyproject.toml").write_text("[tool.tpulint]\ncompare-siblings = true\n")
    assert cli.main(["chain.tflite", "agree.tflite", "--fail-on", "never"]) == 2
    captured = capsys.readouterr()
    assert captured.err == ("tpulint: chain_edgetpu.log: truncated log: its last line ends inside the status "
                            "'More than one subgra'\n")
    assert captured.out.splitlines()[-3:-1] == [  # then the run's summary line
        "agree.tflite: actual compile: the compiler agrees on 4 of 4 ops",
        "agree.tflite: 1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped"]
    assert captured.out.splitlines()[-1].startswith("Found ")


def test_siblings_are_compared_only_when_the_setting_is_on(files: Path, capsys) -> None:
    (files / "agree.tflite").write_bytes(chain())
    assert cli.main(["agree.tflite", "--fail-on", "never"]) == 0
    assert "actual compile" not in capsys.readouterr().out
    assert cli.main(["agree.tflite", "--fail-on", "never", "--compare-siblings"]) == 0
    assert "agree.tflite: actual compile: the compiler agrees on 4 of 4 ops\n" in capsys.readouterr().out


def test_fail_on_mismatch_from_pyproject_with_siblings(files: Path, capsys) -> None:
    (files / "pyproject.toml").write_text('[tool.tpulint]\ncompare-siblings = true\nfail-on = "mismatch"\n')
    assert cli.main(["chain.tflite"]) == 1  # the compile disagrees on ops 2-3; FLOOR's error does not count
    (files / "chain_edgetpu.tflite").write_bytes(compiled_chain([(0, 1)]))
    (files / "chain_edgetpu.log").write_text(AGREEING_LOG)
    assert cli.main(["chain.tflite"]) == 0
