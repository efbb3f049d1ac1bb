"""Peak RSS of the CLI per output format on large inputs (the README's memory table, issue #12 item 10 / #15).

    python bench/output_memory.py [--batch] [--formats concise,json,...]

Builds, in a temporary folder: a chain of 100,000 int8 RELUs (11.1 MiB), bench/speed.py's 30,000-op chain, and
with --batch 500 models of 2,000 RELUs with a FLOOR every 7th op (142,500 findings; minutes per format). Runs
`tpulint --isolated --format F -o OUT INPUT` for each format in a child that reports its own high-water mark
(bench/_child.py, what `/usr/bin/time -f %M` shows) and prints one Markdown row per input.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tpulint.testing import ModelBuilder  # noqa: E402

FORMATS = ("concise", "json", "sarif", "html", "markdown", "full", "github", "model-explorer")


def relu_chain(n_ops: int, floor_every: int = 0) -> bytes:
    b = ModelBuilder()
    b.tensor("t0", [1, 4], "int8", quant=(0.05, 0))
    for i in range(n_ops):
        b.tensor(f"t{i + 1}", [1, 4], "int8", quant=(0.05, 0))
        b.op("FLOOR" if floor_every and i % floor_every == floor_every - 1 else "RELU", [f"t{i}"], [f"t{i + 1}"])
    return b.build()


def peak_mib(fmt: str, target: Path, out: Path) -> tuple[float, int]:
    proc = subprocess.run([sys.executable, str(HERE / "_child.py"), "-m", "tpulint", "--isolated", "-q", "--format",
                           fmt, "-o", str(out), str(target)], capture_output=True, text=True)
    kib = int(proc.stderr.rpartition("PEAK_RSS_KIB ")[2].split()[0])
    return kib / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", action="store_true", help="also 500 models of 2,000 ops (slow)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    ns = parser.parse_args()
    formats = ns.formats.split(",")
    from speed import chain

    with tempfile.TemporaryDirectory(prefix="tpulint-memory-") as tmp:
        folder = Path(tmp)
        inputs = {"chain of 100,000 RELUs": folder / "relu100k.tflite", "bench chain of 30,000 ops": folder / "chain30k.tflite"}
        inputs["chain of 100,000 RELUs"].write_bytes(relu_chain(100_000))
        inputs["bench chain of 30,000 ops"].write_bytes(chain(30_000))
        if ns.batch:
            batch = folder / "batch"
            batch.mkdir()
            (batch / "m000.tflite").write_bytes(relu_chain(2000, floor_every=7))
            for i in range(1, 500):
                shutil.copy(batch / "m000.tflite", batch / f"m{i:03d}.tflite")
            inputs["500 models of 2,000 ops"] = batch
        print("| input | " + " | ".join(formats) + " |")
        print("| --- | " + " | ".join("--:" for _ in formats) + " |")
        for name, target in inputs.items():
            size = (target / "m000.tflite" if target.is_dir() else target).stat().st_size
            cells = []
            for fmt in formats:
                out = folder / f"out-{fmt}"
                mib, _ = peak_mib(fmt, target, out)
                shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
                cells.append(f"{mib:.0f}")
            bound = 2 * size / (1 << 20) + 100
            print(f"| {name}, {size / (1 << 20):.1f} MiB{' each' if target.is_dir() else ''} (bound {bound:.0f} MiB) | "
                  + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
