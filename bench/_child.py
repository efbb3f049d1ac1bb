"""Run `-m MODULE ARGS...` or `-c CODE` like the interpreter does, then report the peak RSS on stderr.

Used by bench/speed.py: the peak RSS a parent gets from wait4() includes the parent's own memory at fork
time on Linux, so the child reads its own high-water mark (VmHWM) instead.
"""

import atexit
import os
import runpy
import sys


def _report() -> None:
    try:
        with open("/proc/self/status") as f:
            kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    sys.stdout.flush()
    os.write(2, f"\nPEAK_RSS_KIB {kib}\n".encode())


atexit.register(_report)
mode, target, *rest = sys.argv[1:]
if mode == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.argv = ["-c", *rest]
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
