"""Regenerate docs/html-report.png, the README's picture of the HTML report: `python docs/screenshot.py`
(tests/test_render_html.py does it too, on every run with Chromium, so the picture follows the code).

Builds a small branchy demo model (an unsupported FLOOR on one branch cuts everything downstream of it, the
other branch still maps), renders `tpulint --format html` for it and photographs the page with headless Chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tpulint import cli  # noqa: E402
from tpulint.testing import ModelBuilder  # noqa: E402

WIDTH, HEIGHT = 1100, 1500


def demo_model() -> bytes:
    b = ModelBuilder()
    q = (0.05, 0)

    def conv(src: str, out: str, channels: int = 8, depthwise: bool = False) -> None:
        cin = 8
        shape = [1, 3, 3, channels] if depthwise else [channels, 3, 3, cin]
        b.tensor(f"{out}/weights", shape, "int8", quant=(0.02, 0), data=np.ones(int(np.prod(shape)), np.int8))
        b.tensor(f"{out}/bias", [channels], "int32", quant=(0.001, 0), data=np.zeros(channels, np.int32))
        b.tensor(out, [1, 16, 16, channels], "int8", quant=q)
        opts: dict[str, object] = {"padding": "SAME", "stride_w": 1, "stride_h": 1}
        if depthwise:
            opts["depth_multiplier"] = 1
        b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [src, f"{out}/weights", f"{out}/bias"], [out], **opts)

    b.tensor("image", [1, 16, 16, 8], "int8", quant=q)
    conv("image", "stem/conv")
    conv("stem/conv", "stem/dw", depthwise=True)
    conv("stem/dw", "left/conv")
    conv("left/conv", "left/conv2")
    b.tensor("right/floor", [1, 16, 16, 8], "int8", quant=q)
    b.op("FLOOR", ["stem/dw"], ["right/floor"])
    conv("right/floor", "right/conv")
    b.tensor("merge", [1, 16, 16, 8], "int8", quant=q)
    b.op("ADD", ["left/conv2", "right/conv"], ["merge"])
    b.tensor("head/logits", [1, 16, 16, 8], "int8", quant=q)
    b.op("SOFTMAX", ["merge"], ["head/logits"], beta=1.0)
    b.io(["image"], ["head/logits"])
    return b.build()


def shoot(browser: str, out: Path, folder: Path) -> Path:
    """Render the demo model's HTML report in `folder` and photograph it into `out`; the page's path."""
    model = folder / "demo.tflite"
    model.write_bytes(demo_model())
    page = folder / "report.html"
    cli.main(["--isolated", "--format", "html", "-o", str(page), str(model)])
    page.write_text(page.read_text(encoding="utf-8").replace(str(folder) + "/", ""), encoding="utf-8")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={folder}/profile", f"--window-size={WIDTH},{HEIGHT}",
                    f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=180)
    return page


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    out = ROOT / "docs" / "html-report.png"
    with tempfile.TemporaryDirectory() as tmp:
        shoot(browser, out, Path(tmp))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
