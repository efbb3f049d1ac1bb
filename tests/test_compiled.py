"""Compiled models: the DWN1 package decoder on built packages and on the corpus, findings, placements, the CLI."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, load_truth
from edgetpu_package import (ExecutableSpec, LayerSpec, compiled_model, custom_options, package,
                             standard_package)
from tpulint import analyze
from tpulint.analysis import analyze_model
from tpulint.checks.compiled import LEFT_ON_CPU
from tpulint.cli import main
from tpulint.compiled import decode_options, decode_package, inspect
from tpulint.config import Config
from tpulint.errors import ModelError
from tpulint.model import read_model, read_model_bytes
from tpulint.report import document


def write(tmp_path, data: bytes, name: str = "m_edgetpu.tflite") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_package_fields_decode_exactly(tmp_path):
    path = write(tmp_path, compiled_model(custom_options(standard_package())))
    info = inspect(read_model(path))
    d = info.to_dict()
    assert (d["edgetpu_subgraphs"], d["cpu_ops"], d["min_runtime_version"], d["compiler_version"]) == (1, 1, 14, "cl/123")
    assert (d["cached_parameter_bytes"], d["streamed_parameter_bytes"]) == (3000, 500)
    assert d["caching_token"] == "0x123456789abcdef0" and d["chip"] == "beagle" and d["problems"] == []
    assert [(e["type"], e["name"], e["parameter_bytes"], e["scratch_bytes"], e["narrow_memory_bytes_per_tile"])
            for e in d["executables"]] == [("EXECUTION_ONLY", "model", 500, 4096, 2048),
                                           ("PARAMETER_CACHING", "Unknown", 3000, 0, 0)]
    assert d["inputs"] == [{"name": "input", "size_bytes": 192, "shape": [8, 8, 3], "data_type": "SIGNED_FIXED_POINT8",
                            "zero_point": -128, "scale": 0.05, "execution_count_per_inference": 1}]
    assert [(x["name"], x["zero_point"], x["scale"]) for x in d["outputs"]] == [("logits", 3, 0.25)]
    op = d["edgetpu_ops"][0]
    assert (op["options_version"], op["execution_preference"], op["chip_ids"], op["signature_bytes"]) == (0, -1, [18], 32)
    assert op["executable_types"] == ["EXECUTION_ONLY", "PARAMETER_CACHING"]


def test_stand_alone_package_is_all_streamed_and_blob_options_accepted():
    pkg = package([ExecutableSpec(0, 9000, token=7, inputs=[LayerSpec("x", (1, 1, 4), data_type=0)])], min_runtime=13)
    op = decode_options(custom_options(pkg, as_blob=True))
    assert op.package is not None and op.package.min_runtime_version == 13
    (e,) = op.executables
    assert (e.type, e.parameter_bytes, e.caching_token, e.inputs[0].data_type) == ("STAND_ALONE", 9000, 7, "FIXED_POINT8")


def test_compiled_model_placements_findings_and_memory(tmp_path):
    report = analyze(write(tmp_path, compiled_model(custom_options(standard_package()))))
    assert report.compiled and report.compilable
    assert [(p.opcode, p.custom_code, p.placement, p.status, p.segment) for p in report.main.placements] == [
        ("CUSTOM", "edgetpu-custom-op", "tpu", "Mapped to Edge TPU", 0),
        ("DEQUANTIZE", None, "cpu", report.main.placements[1].status, None)]
    assert report.main.placements[1].status != "Mapped to Edge TPU"
    codes = [f.code for f in report.findings]
    assert "TPU800" in codes and "TPU810" in codes and "TPU801" not in codes
    assert all(f.location.operator != 0 for f in report.findings)  # the custom op itself is not linted
    streamed = next(f for f in report.findings if f.code == "TPU810")
    assert streamed.message == ("500.00B of 3.42KiB parameters are streamed from the host on every inference; "
                                "2.93KiB cached on chip (read from the compiled package)")
    m = report.memory.to_dict()
    assert (m["parameter_bytes"], m["cached_bytes"], m["streamed_bytes"], m["source"]) == (3500, 3000, 500, "package")
    assert m["largest_activation"] == {"name": "input", "bytes": 192}
    entry = document([report], report.config)["models"][0]
    assert entry["compiled"] is True and entry["compiled_info"]["cached_parameter_bytes"] == 3000
    assert entry["summary"] == {"ops": 2, "tpu_ops": 1, "cpu_ops": 1, "tpu_subgraphs": 1}
    json.dumps(entry, allow_nan=False)


def test_cpu_op_without_a_rule_says_the_file_records_no_reason(tmp_path):
    from tpulint.testing import ModelBuilder

    b = ModelBuilder("Exported from Subgraph.")
    b.tensor("input", [1, 4], "int8", quant=(0.5, 0))
    b.tensor("mid", [1, 4], "int8", quant=(0.5, 0))
    b.tensor("out", [1, 4], "int8", quant=(0.5, 0))
    b.op("CUSTOM", ["input"], ["mid"], custom_code="edgetpu-custom-op", custom_options=custom_options(standard_package()))
    b.op("RELU", ["mid"], ["out"])
    report = analyze(write(tmp_path, b.build()))
    assert [(p.placement, p.status) for p in report.main.placements] == [("tpu", "Mapped to Edge TPU"),
                                                                       ("cpu", LEFT_ON_CPU)]


@pytest.mark.parametrize("damage, problem", [
    (lambda pkg: custom_options(pkg[:4] + b"XXXX" + pkg[8:]), "Edge TPU package has file identifier b'XXXX'"),
    (lambda pkg: b"\x01\x02\x03", "corrupt custom options"),
    (lambda pkg: custom_options(pkg[:40]), "corrupt Edge TPU"),
])
def test_damaged_package_is_a_finding_and_exit_1(tmp_path, capsys, damage, problem):
    path = write(tmp_path, compiled_model(damage(standard_package()), cpu_tail=False))
    report = analyze(path)
    (f,) = [f for f in report.findings if f.code == "TPU801"]
    assert problem in f.message and f.severity.name == "ERROR" and f.location.operator == 0
    assert report.compiled_info.problems and report.memory.parameter_bytes == 0
    assert main(["--isolated", path]) == 1
    out, err = capsys.readouterr()
    assert "TPU801" in out and "Traceback" not in out + err


def test_options_without_a_package_key():
    import flatbuffers.flexbuffers as fx

    fb = fx.Builder()
    with fb.Map():
        fb.Int("1", 0)
    with pytest.raises(ModelError, match='no Edge TPU package \\(key "4"\\)'):
        decode_options(bytes(fb.Finish()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_package_bytes_never_crash(data):
    pkg = bytearray(standard_package())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(8, len(pkg) - 1))
        pkg[pos] = data.draw(st.integers(0, 255))
    try:
        decode_package(bytes(pkg))
    except ModelError:
        pass


def test_a_compiled_model_held_in_memory_is_decoded_from_its_bytes(tmp_path):
    data = compiled_model(custom_options(standard_package()))
    from_file = analyze(write(tmp_path, data))
    from_memory = analyze_model(read_model_bytes(data, "in-memory.tflite"), from_file.config)
    assert from_memory.compiled_info.to_dict() == from_file.compiled_info.to_dict()
    assert from_memory.compiled_info.ops[0].problem is None
    assert [f.message for f in from_memory.findings] == [f.message for f in from_file.findings]


@pytest.mark.parametrize("change", ["resized", "fifo"])
def test_a_compiled_model_file_changed_after_reading_is_reported_not_decoded(tmp_path, change):
    if change == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    data = compiled_model(custom_options(standard_package()))
    path = write(tmp_path, data)
    model = read_model(path)
    os.unlink(path)
    if change == "fifo":
        os.mkfifo(path)  # opening it blocking would hang the run
    else:
        with open(path, "wb") as f:
            f.write(data + b"\0" * 16)
    info = analyze_model(model, Config()).compiled_info
    assert [op.problem for op in info.ops] == [
        "cannot reopen the model file to read the Edge TPU package: the file changed since it was read"]


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_random_options_never_crash(blob):
    model_bytes = compiled_model(blob or b"\x00")
    info = inspect(read_model_bytes(model_bytes, "x"), model_bytes)
    assert info is not None and info.edgetpu_subgraphs == 1


def test_runtime_version_message_and_exit(tmp_path, capsys):
    path = write(tmp_path, compiled_model(custom_options(standard_package(min_runtime=14)), cpu_tail=False))
    assert main(["--isolated", "--runtime-version", "13", "--format", "json", path]) == 1
    doc = json.loads(capsys.readouterr().out)
    (f,) = [f for f in doc["models"][0]["findings"] if f["code"] == "TPU802"]
    assert f["message"] == "Package requires runtime version (14), which is newer than this runtime version (13)"
    assert main(["--isolated", "--runtime-version", "14", "--format", "json", path]) == 0
    assert not [f for f in json.loads(capsys.readouterr().out)["models"][0]["findings"] if f["code"] == "TPU802"]


def test_runtime_version_for_an_uncompiled_model(tmp_path):
    from tpulint.testing import int8_cnn

    path = write(tmp_path, int8_cnn().build(), "cnn.tflite")
    (f,) = [f for f in analyze(path, runtime_version=13).findings if f.code == "TPU802"]
    assert f.message == ("compiled with -m 14 this model requires runtime version (14), which is newer than this "
                         "runtime version (13)")
    assert not [f for f in analyze(path, runtime_version=13, min_runtime=13).findings if f.code == "TPU802"]


# --- the compiled models of the real-compiler corpus ----------------------------------------------------------

# case: (cached, streamed, min_runtime_version, compiler_version, chip ids)
EXPECTED = {
    "et_deeplabv3_mnv2_pascal_quant_old": (2337216, 0, 12, "cl/", []),
    "ext_edgetpu_tcn_sentiment": (1536, 1510464, 14, "cl/", [18]),
    "ext_facemesh_face_landmark_192": (710464, 27904, 12, "cl/", []),
    "ext_franco_mnist_dense": (102976, 0, 12, "cl/", []),
    "ext_yolov5n_sandhya": (1979968, 24064, 14, "cl/", [18]),
    "ext_yolov8n_nerbivol": (3492544, 0, 14, "cl/", [18]),
    "td_bodypix_mobilenet_v1_075_512_512_16_quant_decoder": (1477888, 0, 12, "cl/", [17]),
    "td_deeplab_mobilenet_edgetpu_slim_cityscapes_quant": (2654784, 0, 12, "cl/", [18]),
    "td_keras_lstm_mnist_ptq": (43968, 576, 12, "cl/", [18]),
    "td_movenet_single_pose_lightning_ptq": (2862656, 2368, 12, "cl/", [18]),
    "td_split_concat": (192, 0, 13, "cl/343520747", []),
}


def compiled_cases():
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus/real is absent"))]
    return [pytest.param(d, id=d.name) for d in sorted(CORPUS.iterdir())
            if (d / "truth.json").is_file() and load_truth(d).get("files", {}).get("compiled")]


@pytest.mark.parametrize("case", compiled_cases())
def test_corpus_compiled_model_decodes(case):
    truth = load_truth(case)
    model = read_model(case / truth["files"]["compiled"])
    info = inspect(model)
    assert info is not None and not info.problems
    assert info.edgetpu_subgraphs == truth["num_edgetpu_custom_ops"]
    assert list(info.compiler_versions) == truth["package_compiler_versions"]
    # Each Edge TPU subgraph is one STAND_ALONE executable (parameters streamed: seen in the first segments of
    # `-a` compiles) or a PARAMETER_CACHING + EXECUTION_ONLY pair; all of a file's share one caching token.
    for edgetpu_op in info.ops:
        assert sorted(e.type for e in edgetpu_op.executables) in (
            ["STAND_ALONE"], ["EXECUTION_ONLY", "PARAMETER_CACHING"])
        op = model.main.operators[edgetpu_op.op]
        running = [e for e in edgetpu_op.executables if e.type != "PARAMETER_CACHING"]
        assert {x.name for e in running for x in e.inputs} == {model.main.tensors[t].name for t in op.inputs}
        assert {model.main.tensors[t].name for t in op.outputs} <= {x.name for e in running for x in e.outputs}
    assert len(info.caching_tokens) == 1 and info.chips == ("beagle",)
    if case.name in EXPECTED:
        cached, streamed, runtime, compiler, chips = EXPECTED[case.name]
        assert (info.cached_parameter_bytes, info.streamed_parameter_bytes) == (cached, streamed)
        assert (info.min_runtime_version, info.compiler_versions, list(info.ops[0].chip_ids)) == (
            runtime, (compiler,), chips)
    report = analyze(case / truth["files"]["compiled"])
    assert report.compiled and report.tpu_ops == truth["num_edgetpu_custom_ops"]
    assert report.cpu_ops == len(model.main.operators) - truth["num_edgetpu_custom_ops"]
    json.dumps(document([report], report.config), allow_nan=False)


def test_corpus_cocompiled_file_has_its_own_token():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/real is absent")
    alone = inspect(read_model(next((CORPUS / "td_mobilenet_v1_0.25_128_quant").glob("*_edgetpu.tflite"))))
    together = inspect(read_model(next((CORPUS / "td_cocompiled_mobilenet_v1_0.25_128_with_0.5_160")
                                       .glob("*_edgetpu.tflite"))))
    assert alone.cached_parameter_bytes == together.cached_parameter_bytes == 566912
    assert alone.caching_tokens == (0x6d146c3f97d6648c,) and together.caching_tokens == (0xe2c366fd5d62fa6b,)


def test_mmap_is_released(tmp_path):
    path = write(tmp_path, compiled_model(custom_options(standard_package())))
    inspect(read_model(path))
    os.replace(path, path + ".moved")  # works on every OS only when no mapping is left open


def test_runtime_version_from_pyproject_and_bad_values(tmp_path, capsys):
    from tpulint.config import load_pyproject

    toml = tmp_path / "pyproject.toml"
    toml.write_text("[tool.tpulint]\nruntime-version = 13\n")
    assert load_pyproject(toml).runtime_version == 13
    assert main(["--isolated", "--runtime-version", "0", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "tpulint: runtime-version must be between 1 and 99, not 0\n"


def test_two_edgetpu_subgraphs_with_a_cpu_op_between(tmp_path):
    from tpulint.testing import ModelBuilder

    b = ModelBuilder("Exported from Subgraph.")
    for name in ("input", "a", "b", "out"):
        b.tensor(name, [1, 8, 8, 4], "int8", quant=(0.5, 0))
    b.op("CUSTOM", ["input"], ["a"], custom_code="edgetpu-custom-op",
         custom_options=custom_options(standard_package(cached=1000, streamed=0)))
    b.op("FLOOR", ["a"], ["b"])
    b.op("CUSTOM", ["b"], ["out"], custom_code="edgetpu-custom-op",
         custom_options=custom_options(standard_package(cached=2000, streamed=300, min_runtime=13)))
    report = analyze(write(tmp_path, b.io(["input"], ["out"]).build()))
    d = report.compiled_info.to_dict()
    assert (d["edgetpu_subgraphs"], d["cpu_ops"], d["min_runtime_version"]) == (2, 1, 14)
    assert (d["cached_parameter_bytes"], d["streamed_parameter_bytes"]) == (3000, 300)
    assert d["caching_token"] == "0x123456789abcdef0" and [e["op"] for e in d["executables"]] == [0, 0, 2, 2]
    assert [(p.placement, p.segment) for p in report.main.placements] == [("tpu", 0), ("cpu", None), ("tpu", 1)]
    assert report.main.placements[1].status == "Operation not supported"
    assert [(s.ops, s.inputs, s.outputs) for s in report.main.segments] == [((0,), (0,), (1,)), ((2,), (2,), (3,))]
