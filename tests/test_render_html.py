"""HTML report: golden page, escaping, self-containment, and a real headless Chromium render of the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from render_support import HOSTILE, ROOT, SCRIPT, copy_fixtures, hostile_model, make_doc

from tpulint.render import RenderOptions, render
from tpulint.render.layout import layout


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    Path("hostile.tflite").write_bytes(hostile_model())
    return make_doc(["hostile.tflite", *copy_fixtures(tmp_path)], failures=(("missing.tflite", "no such file"),))


def test_html_golden(doc, golden) -> None:
    golden("report.html", render(doc, RenderOptions(format="html")))


def test_html_escapes_every_model_string(doc) -> None:
    page = render(doc, RenderOptions(format="html"))
    assert SCRIPT not in page
    assert page.count("<script>") == 1  # tpulint's own
    # the op table cell and the SVG tooltip of the hostile tensor, exactly
    assert ('<span class="tensor">&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m%0A\\x0d\\x0a::error::x,y|`*_</span>'
            in page)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", page)
    # rule docs are tpulint's own Markdown, rendered as HTML (not shown as escaped tags)
    assert '<details id="rule-TPU100">' in page and "<h4>Why it matters</h4>" in page
    assert "&lt;h4&gt;" not in page and "&amp;#39;" not in page
    assert "<title>op 0 RELU: Mapped to Edge TPU → &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_html_is_self_contained(doc) -> None:
    page = render(doc, RenderOptions(format="html"))
    assert not re.search(r"<link|<img|<iframe|\ssrc=|url\(|@import", page)
    assert "default-src 'none'" in page  # the CSP forbids any load the page might still attempt


def test_html_shows_one_section_per_model_and_the_cut(doc) -> None:
    page = render(doc, RenderOptions(format="html"))
    assert len(re.findall(r'<section class="model" id="model-\d+">', page)) == 6
    # one tensor leaves the Edge TPU segment in each of hostile, broken_chain and custom_op
    assert page.count('<path class="edge cut"') == 3
    assert '<g class="node cpu blocker" transform=' in page
    assert "not analysed: no such file" in page
    # the index: the verdict in a few words (its full line as the title), the figures in their own columns
    assert ('<tr><td class="path"><a href="#model-1">broken_chain.tflite</a></td><td><span class="badge partial" '
            'title="1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped">partially mapped'
            '</span></td>\n<td>1/4 (25.0%)</td><td>3</td><td>1</td><td>1</td></tr>') in page


def test_layout_rows_follow_data_flow(doc) -> None:
    m = doc["models"][1]  # broken_chain: RELU, FLOOR, RELU, RELU in a chain, cut after op 0
    g = layout(m["ops"], m["blockers"])
    assert [(n.op["index"], n.x, n.y, n.blocker) for n in g.nodes] == [
        (0, 16, 16, None), (1, 16, 68, 1), (2, 16, 120, None), (3, 16, 172, None)]
    assert [(e.y1, e.y2, e.cut, e.tensor) for e in g.edges] == [
        (42, 68, True, "relu_0"), (94, 120, False, "floor_1"), (146, 172, False, "relu_2")]


def _op(index: int, preds: list[int], placement: str = "tpu", segment: int | None = 0) -> dict:
    return {"subgraph": 0, "index": index, "preds": preds, "placement": placement, "segment": segment,
            "inputs": [{"index": p, "name": f"t{p}"} for p in preds], "outputs": [{"index": index, "name": f"t{index}"}]}


def test_layout_places_branches_side_by_side_and_ignores_bad_preds() -> None:
    # 0 feeds 1 and 2, which join in 3; op 4 claims a later op and itself as producers (hostile input)
    ops = [_op(0, []), _op(1, [0]), _op(2, [0], "cpu", None), _op(3, [1, 2], "cpu", None), _op(4, [4, 9])]
    g = layout(ops, [{"subgraph": 0, "op": 2}])
    assert (g.width, g.height) == (390, 16 * 2 + 3 * 26 + 2 * 26)
    assert [(n.op["index"], n.x, n.y, n.blocker) for n in g.nodes] == [
        (0, 16, 16, None), (4, 204, 16, None), (1, 16, 68, None), (2, 204, 68, 1), (3, 110, 120, None)]
    assert [(e.x1, e.y1, e.x2, e.y2, e.cut) for e in g.edges] == [
        (101, 42, 101, 68, False), (101, 42, 289, 68, True), (101, 94, 195, 120, True), (289, 94, 195, 120, False)]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser() -> str:
    """The Chromium binary; the test is skipped without one (failed when CI requires it)."""
    browser = _chromium()
    if browser is None:
        if os.environ.get("TPULINT_REQUIRE_CHROMIUM"):
            pytest.fail("TPULINT_REQUIRE_CHROMIUM is set but no chromium binary is on PATH")
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package with apt-get)")
    return browser


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def test_html_renders_in_headless_chromium(doc, tmp_path: Path) -> None:
    browser = _browser()
    page = tmp_path / "report.html"
    page.write_text(render(doc, RenderOptions(format="html")), encoding="utf-8")
    base = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    run = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    dom = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-tpulint-ready="1"' in root and "data-script-error" not in root, root
    assert "Uncaught" not in run.stderr
    # the verdict and the filled ops table of the hostile model, as the browser built them
    assert '<p class="headline">1/3 ops on the Edge TPU, 2 on the CPU, 1 Edge TPU subgraph; partially mapped</p>' in dom
    assert '<span class="op-count muted">3 of 3 ops shown</span>' in dom  # written by the page's script
    assert len(re.findall(r'<tr class="(?:tpu|cpu)" data-placement=', dom)) == sum(
        len(m["ops"]) for m in doc["models"])
    assert dom.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    # the filters work in the browser: a link preset to CPU ops hides the Edge TPU rows
    run = subprocess.run([*base, "--dump-dom", page.as_uri() + "#placement=cpu&q=floor"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert '<span class="op-count muted">1 of 3 ops shown</span>' in run.stdout
    assert len(re.findall(r'<tr class="tpu" data-placement="tpu"[^>]* hidden="">', run.stdout)) == sum(
        m["summary"]["tpu_ops"] for m in doc["models"])
    shot = ROOT / "build" / "html-report.png"  # kept as a CI artifact
    shot.parent.mkdir(exist_ok=True)
    run = subprocess.run([*base, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert HOSTILE  # the page above carried every hostile character class


# Run in the page once it has loaded (after the report's own script): what a user sees and does, as JSON on the
# root element: page width, the rows shown, a click on a graph node, sorting from the keyboard, the colours.
PROBE = """<script>
window.addEventListener("load", function () {
  var root = document.documentElement, section = document.querySelector("section.model");
  function shown() {
    return Array.prototype.filter.call(section.querySelectorAll("table.ops tbody tr"), function (r) {
      return !r.hidden; }).map(function (r) { return r.id; });
  }
  var out = {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, height: root.scrollHeight,
             shown: shown(), background: getComputedStyle(document.body).backgroundColor,
             card: getComputedStyle(section).backgroundColor, ink: getComputedStyle(document.body).color};
  var link = section.querySelector('a.node-link[data-row="CLICKED"]');
  if (link) {
    var row = document.getElementById(link.getAttribute("data-row"));
    out.hiddenBefore = row.hidden;
    window.scrollTo(0, 0);
    link.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
    var box = row.getBoundingClientRect();
    out.clicked = {hidden: row.hidden, target: row.classList.contains("target"), top: box.top,
                   bottom: box.bottom, viewport: window.innerHeight, scrollY: window.scrollY};
  }
  var th = section.querySelectorAll("table.ops thead th")[1];
  th.focus();
  th.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  th.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  out.sorted = {sort: th.getAttribute("aria-sort"), focused: document.activeElement === th,
                first: section.querySelector("table.ops tbody tr").id};
  root.setAttribute("data-probe", JSON.stringify(out));
});
</script>"""


def _browse(page: Path, tmp_path: Path, *flags: str, click: str = "") -> dict:
    """Open `page` with PROBE added in headless Chromium (a 1385x900 window), clicking the graph node of the
    table row `click`; what PROBE recorded."""
    import html
    import json

    browser = _browser()
    probed = tmp_path / f"probed-{page.name}"
    probe = PROBE.replace("CLICKED", click)
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    run = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1385,900",
                          *flags, "--dump-dom", probed.as_uri()], capture_output=True, text=True,
                         timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    root = re.search(r"<html[^>]*>", run.stdout).group(0)
    assert "data-script-error" not in root, root
    return json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', root).group(1)))


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


CORPUS_PAGES = [("ext_yolov8n_goalbuddy", "yolov8n_full_integer_quant.tflite"),
                ("td_deeplabv3_mnv2_pascal_quant", "deeplabv3_mnv2_pascal_quant.tflite")]


@pytest.mark.parametrize(("case", "name"), CORPUS_PAGES, ids=[c for c, _ in CORPUS_PAGES])
def test_corpus_page_in_headless_chromium(tmp_path: Path, case: str, name: str) -> None:
    from conftest import CORPUS

    from tpulint import cli

    model = CORPUS / case / name
    if not model.is_file():
        pytest.skip("../shared/corpus/real is absent")
    page = tmp_path / "report.html"
    assert cli.main(["--isolated", "--format", "html", "-o", str(page), str(model)]) in (0, 1)
    doc = make_doc([str(model)])
    ops = doc["models"][0]["ops"]
    cpu = {op["index"] for op in ops if op["placement"] == "cpu"}
    around = cpu | {p for op in ops if op["index"] in cpu for p in op["preds"]} | {
        op["index"] for op in ops if cpu & set(op["preds"])}
    assert cpu and len(around) < len(ops)
    outside = next(op["index"] for op in ops if op["index"] not in around)  # a row the default view hides
    seen = _browse(page, tmp_path, click=f"model-0-op-0-{outside}")
    # nothing wider than the window (the page measured 2,138 px in a 1,385 px window before)
    assert seen["scrollWidth"] <= seen["innerWidth"] == 1385
    # the table opens on the CPU ops and the ops next to them, in execution order
    assert seen["shown"] == [f"model-0-op-0-{i}" for i in sorted(around)]
    # a click on a node shows every op and scrolls its row into the window, marked
    assert seen["hiddenBefore"] is True
    clicked = seen["clicked"]
    assert clicked["hidden"] is False and clicked["target"] is True and clicked["scrollY"] > 0
    assert 0 <= clicked["top"] and clicked["bottom"] <= clicked["viewport"]
    # Enter on the focused "#" header sorts, twice: descending
    assert seen["sorted"] == {"sort": "descending", "focused": True, "first": f"model-0-op-0-{len(ops) - 1}"}
    # the system's dark mode switches the colours: a dark page, light text
    dark = _browse(page, tmp_path, "--force-dark-mode")
    assert _rgb(seen["background"]) == (247, 248, 250) and _rgb(seen["card"]) == (255, 255, 255)
    assert max(_rgb(dark["background"])) < 64 and max(_rgb(dark["card"])) < 64 and min(_rgb(dark["ink"])) > 192
    assert dark["scrollWidth"] <= dark["innerWidth"]


def test_readme_screenshot_is_regenerated_from_the_current_page(tmp_path: Path) -> None:
    """docs/html-report.png, the README's picture, photographed from the current code (docs/screenshot.py)."""
    import importlib.util

    browser = _browser()
    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "docs" / "screenshot.py")
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    out = ROOT / "docs" / "html-report.png"
    page = screenshot.shoot(browser, out, tmp_path)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == screenshot.WIDTH  # the IHDR width
    text = page.read_text(encoding="utf-8")
    assert "<h3>Edge TPU subgraphs (1)</h3>" in text and 'class="node-link"' in text and str(tmp_path) not in text


def test_compiled_info_and_memory_panels_render_generically(doc) -> None:
    m = doc["models"][1]
    m["memory"] = {"cached_bytes": 7_225_344, "streamed_bytes": 0, "largest_activation": {"name": SCRIPT, "bytes": 1024},
                   "method": "sum of mapped weights"}
    m["compiled_info"] = {"compiler_version": "16.0.384591198", "executables": [{"type": "EXECUTION_ONLY"}]}
    page = render(doc, RenderOptions(format="html"))
    assert ("<h3>On-chip memory</h3>\n  <div class=\"scroll\"><table class=\"kv\">\n"
            "    <tr><th>Cached on chip</th><td>6.89MiB</td></tr>\n"
            "    <tr><th>Streamed per inference</th><td>0.00B</td></tr>\n    <tr><th>Largest activation</th>"
            "<td>&lt;script&gt;alert(1)&lt;/script&gt; (1.00KiB)</td></tr>\n    <tr><th>Method</th><td>sum of mapped weights"
            "</td></tr>\n  </table></div>" in page)
    assert "<tr><th>Executables 1</th><td>type=EXECUTION_ONLY</td></tr>" in page
