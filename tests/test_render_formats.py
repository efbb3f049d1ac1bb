"""JSON, SARIF, GitHub, Markdown and Model Explorer output: golden files, schema, escaping, limits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SHARED
from render_support import HOSTILE, SCRIPT, copy_fixtures, finding, hostile_model, make_doc, with_findings

from tpulint.render import FORMATS, RenderOptions, render
from tpulint.render import markdown as markdown_renderer
from tpulint.render.sarif import sarif

SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    return make_doc(copy_fixtures(tmp_path), failures=(("missing.tflite", "no such file"),))


@pytest.mark.parametrize(("fmt", "name"), [
    ("json", "report.json"), ("sarif", "report.sarif"), ("github", "report.github.txt"),
    ("markdown", "report.md"), ("model-explorer", "report.model-explorer.json"),
])
def test_format_golden(doc, golden, tmp_path: Path, fmt: str, name: str) -> None:
    golden(name, render(doc, RenderOptions(format=fmt, root=str(tmp_path))))


def test_every_format_is_registered() -> None:
    assert set(FORMATS) == {"concise", "full", "json", "html", "sarif", "github", "markdown", "model-explorer"}


def test_json_keeps_schema_version(doc) -> None:
    out = json.loads(render(doc, RenderOptions(format="json")))
    assert out["schema_version"] == 1 and out == doc


# --- SARIF -------------------------------------------------------------------------------------------------------

def _validate_sarif(log: dict) -> None:
    if not SARIF_SCHEMA.is_file():
        pytest.skip("../shared/schemas/sarif-schema-2.1.0.json is absent")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(log)


def test_sarif_validates_against_the_official_schema(doc, tmp_path: Path) -> None:
    _validate_sarif(json.loads(render(doc, RenderOptions(format="sarif", root=str(tmp_path)))))


def test_sarif_results_have_locations_uris_and_fingerprints(doc, tmp_path: Path) -> None:
    log = sarif(doc, str(tmp_path))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(doc["rules"]) and len(rules) >= 2
    assert [r["help"]["markdown"] for r in rules] == [doc["rules"][r["id"]]["help"] for r in rules]
    assert [r["helpUri"] for r in rules] == [doc["rules"][r["id"]]["url"] for r in rules]
    assert all(r["ruleIndex"] == [x["id"] for x in rules].index(r["ruleId"]) for r in run["results"])
    assert len(run["results"]) == sum(len(m["findings"]) for m in doc["models"])
    first = run["results"][0]
    assert first["locations"] == [{
        "physicalLocation": {"artifactLocation": {"uri": "broken_chain.tflite", "uriBaseId": "%SRCROOT%"},
                             "region": {"startLine": 1}},
        "logicalLocations": [
            {"name": "op[1] FLOOR", "fullyQualifiedName": "subgraph[0]/op[1] FLOOR", "kind": "function"},
            {"name": "floor_1", "fullyQualifiedName": "subgraph[0]/op[1] FLOOR/tensor[2]", "kind": "variable"},
        ],
    }]
    assert first["partialFingerprints"] == {"tpulintFinding/v1": doc["models"][0]["findings"][0]["fingerprint"]}
    assert all(r["locations"] for r in run["results"])
    # the unreadable model is a tool notification with its own location
    note = run["invocations"][0]["toolExecutionNotifications"][0]
    assert note["message"]["text"] == "missing.tflite: no such file" and note["locations"]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_sarif_uri_is_repo_relative_and_percent_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "models dir"
    sub.mkdir()
    shutil.copy(Path(__file__).parent.parent / "fixtures" / "broken_chain.tflite", sub / "a#b.tflite")
    monkeypatch.chdir(sub)  # run from a sub-folder: the uri is still relative to the repository root
    log = sarif(make_doc(["a#b.tflite"]), str(tmp_path))
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": "models%20dir/a%23b.tflite", "uriBaseId": "%SRCROOT%"}
    outside = sarif(make_doc(["a#b.tflite"]), str(tmp_path / "elsewhere"))
    loc = outside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": (sub / "a#b.tflite").as_uri()}


def test_sarif_fingerprints_are_stable_when_the_model_is_reanalysed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path, ("broken_chain.tflite",))
    shutil.copy("broken_chain.tflite", "renamed.tflite")
    fps = [[r["partialFingerprints"] for r in sarif(make_doc([p]))["runs"][0]["results"]]
           for p in ("broken_chain.tflite", "broken_chain.tflite", "renamed.tflite")]
    assert fps[0] == fps[1] == fps[2] and fps[0]


def test_sarif_hostile_names_stay_valid_and_exact(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.tflite").write_bytes(hostile_model())
    doc = with_findings(make_doc(["m.tflite"]), [finding(message=f"bad {HOSTILE}")])
    text = render(doc, RenderOptions(format="sarif", root=str(tmp_path)))
    log = json.loads(text)
    _validate_sarif(log)
    result = log["runs"][0]["results"][0]
    assert result["message"]["text"] == f"bad {HOSTILE}"
    assert result["locations"][0]["logicalLocations"][1]["name"] == HOSTILE
    assert ('"name": "<script>alert(1)</script>\\u001b[31m%0A\\r\\n::error::x,y|`*_"' in text)


# --- GitHub ------------------------------------------------------------------------------------------------------

def test_github_one_annotation_per_model_and_severity(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path, ("broken_chain.tflite",))
    doc = with_findings(make_doc(["broken_chain.tflite"]), [
        finding(tensor_name="a"), finding(operator=2, tensor_name="b"), finding(operator=3, tensor_name="c"),
        finding(severity="warning", message="slow", tensor_name="d"), finding(severity="info", message="fyi",
                                                                               operator=None, tensor_name=None)])
    assert render(doc, RenderOptions(format="github")).splitlines() == [
        "::error file=broken_chain.tflite,title=tpulint%3A 3 errors in broken_chain.tflite::op 1 FLOOR (a): "
        "TPU100 FLOOR is not supported%0A(+2 more; see the job summary)%0A1/4 ops on the Edge TPU, "
        "3 on the CPU, 1 Edge TPU subgraph; partially mapped",
        "::warning file=broken_chain.tflite,title=tpulint%3A 1 warning in broken_chain.tflite::op 1 FLOOR (d): "
        "TPU100 slow%0A1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped",
        "::notice file=broken_chain.tflite,title=tpulint%3A 1 info in broken_chain.tflite::TPU100 fyi%0A"
        "1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped",
    ]


def test_github_escapes_hostile_strings_exactly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "a,b:c%d\x1b.tflite"
    Path(name).write_bytes(hostile_model())
    doc = with_findings(make_doc([name]), [finding(message="100% bad\r\n::error::injected")])
    assert render(doc, RenderOptions(format="github")) == (
        "::error file=a%2Cb%3Ac%25d\\x1b.tflite,title=tpulint%3A 1 error in a%2Cb%3Ac%25d\\x1b.tflite::"
        "op 1 FLOOR (<script>alert(1)</script>\\x1b[31m%250A\\x0d\\x0a::error::x,y|`*_): "
        "TPU100 100%25 bad\\x0d\\x0a::error::injected%0A"
        "1/3 ops on the Edge TPU, 2 on the CPU, 1 Edge TPU subgraph; partially mapped\n")


def test_github_reports_unreadable_models(doc) -> None:
    assert render(doc, RenderOptions(format="github")).splitlines()[-1] == \
        "::error file=missing.tflite,title=tpulint%3A model not analysed::no such file"


# --- Markdown ----------------------------------------------------------------------------------------------------

def test_markdown_truncates_below_the_limit_with_a_note(doc) -> None:
    full = render(doc, RenderOptions(format="markdown"))
    cut = markdown_renderer.render(doc, limit=1500)
    assert len(cut.encode()) <= 1500 < len(full.encode())
    body, note = cut.split("\n\n> [!WARNING]\n")
    assert full.startswith(body) and body.endswith("\n")
    assert note == (f"> Report truncated: {len(body.encode()):,} of {len(full.encode()):,} bytes shown (GitHub's job "
                    "summary limit is 1 MiB). Run `tpulint --format full` or open the HTML report for everything.\n")
    assert markdown_renderer.LIMIT < 1024 * 1024


def test_markdown_escapes_hostile_strings_exactly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.tflite").write_bytes(hostile_model())
    doc = with_findings(make_doc(["m.tflite"]), [finding(message=f"see {SCRIPT}|x")])
    text = render(doc, RenderOptions(format="markdown"))
    assert (f"| [TPU100]({doc['rules']['TPU100']['url']}) | error | "
            "op 1 FLOOR (&lt;script&gt;alert\\(1\\)&lt;/script&gt;\\\\x1b\\[31m%0A\\\\x0d\\\\x0a::error::x,y\\|\\`\\*\\_) | "
            "see &lt;script&gt;alert\\(1\\)&lt;/script&gt;\\|x |  |\n") in text
    assert "<script" not in text


# --- Model Explorer ----------------------------------------------------------------------------------------------

def test_model_explorer_colours_every_op_by_placement(doc) -> None:
    data = json.loads(render(doc, RenderOptions(format="model-explorer")))
    assert data["results"] == {
        "relu_0": {"value": 1, "bgColor": "#2e9e6b"},
        "floor_1": {"value": 0, "bgColor": "#e8590c"},
        "relu_2": {"value": 0.5, "bgColor": "#f4b183"},
        "relu_3": {"value": 0.5, "bgColor": "#f4b183"},
    }
    assert [t["value"] for t in data["thresholds"]] == [0, 0.5, 1]


def test_json_hostile_names_round_trip_as_ascii(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.tflite").write_bytes(hostile_model())
    doc = make_doc(["m.tflite"])
    text = render(doc, RenderOptions(format="json"))
    assert text.isascii() and json.loads(text) == doc
    assert '"name": "<script>alert(1)</script>\\u001b[31m%0A\\r\\n::error::x,y|`*_"' in text


def test_markdown_renders_compiled_info_and_memory(doc) -> None:
    doc["models"][0]["memory"] = {"cached_bytes": 2048, "largest_activation": {"name": "a|b", "bytes": 10}}
    text = render(doc, RenderOptions(format="markdown"))
    assert ("### On-chip memory\n\n| | |\n| --- | --- |\n| Cached on chip | 2.00KiB |\n"
            "| Largest activation | a\\|b \\(10.00B\\) |\n| Method | - |\n") in text


def test_sink_sends_a_long_line_in_pieces_unless_it_escapes_lines() -> None:
    """Only the workflow-command escape needs whole lines; without it a line of megabytes (an HTML panel with
    a row per streamed layer) is not gathered whole before it is sent."""
    from tpulint.render import Sink

    for escapes, pieces in ((None, ["a" * 40, "a" * 40, "a" * 20 + "\n"]), ({":": "&#58;"}, ["a" * 100 + "\n"])):
        sent: list[str] = []
        sink = Sink(sent.append, escapes, flush_at=40)
        for _ in range(10):
            sink.write("a" * 10)
        sink.write("\n")
        sink.flush()
        assert sent == pieces
