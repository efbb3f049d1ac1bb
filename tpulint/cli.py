"""The `tpulint` command: parse arguments, analyse each model, render the report, choose the exit status."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

from tpulint._version import __version__
from tpulint.errors import TpulintError
from tpulint.paths import iter_model_paths

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

DESCRIPTION = """\
tpulint: predict what the Edge TPU compiler does to a TFLite model, without the compiler.

For every operator: Edge TPU or CPU, and why; where the model is cut and which op caused it;
whether edgetpu_compiler will accept the model at all.
"""

EPILOG = """\
Other commands:
  tpulint rule CODE       show the documentation of a rule (tpulint rule --all lists every rule)

Exit status: 0 no findings at or above --fail-on, 1 findings, 2 usage error or unreadable model.
Settings can also live in [tool.tpulint] of pyproject.toml (see README).
"""


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _jobs(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per core) or more")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tpulint", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="model files, directories (searched for *.tflite) or globs")
    p.add_argument("--version", action="version", version=f"tpulint {__version__}")
    p.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N",
                   help="analyse models in N processes (0: one per CPU core; default 1)")
    out = p.add_argument_group("output")
    out.add_argument("--format", default=None, metavar="FORMAT",
                     help="concise (default), full, json, html, sarif, github, markdown, model-explorer")
    out.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    out.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them")
    target = p.add_argument_group("compiler target (mirrors edgetpu_compiler's options)")
    target.add_argument("--compiler", metavar="VERSION", help="compiler version to predict: 2.0, 2.1, 14.1, 15.0, 16.0 (default)")
    target.add_argument("-m", "--min-runtime", type=int, metavar="N", help="lowest Edge TPU runtime to support (compiler -m)")
    target.add_argument("-a", "--multiple-subgraphs", action="store_true", default=None,
                        help="allow several Edge TPU subgraphs (compiler -a)")
    target.add_argument("-i", "--intermediate-tensors", type=_csv, metavar="NAMES",
                        help="comma-separated tensors that end the Edge TPU segment (compiler -i)")
    rules = p.add_argument_group("rule selection")
    rules.add_argument("--select", type=_csv, action="extend", metavar="CODES", help="only these rule codes or prefixes")
    rules.add_argument("--ignore", type=_csv, action="extend", metavar="CODES", help="skip these rule codes or prefixes")
    rules.add_argument("--config", metavar="PYPROJECT", help="read [tool.tpulint] from this file (default: nearest pyproject.toml)")
    rules.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    edgetpu = p.add_argument_group("Edge TPU memory and runtime")
    edgetpu.add_argument("--co-compile", action="store_true",
                         help="the models are compiled together, in the order given: split the on-chip cache")
    edgetpu.add_argument("--runtime-version", type=int, metavar="N",
                         help="check the models against an installed Edge TPU runtime version N")
    fail = p.add_argument_group("exit status")
    fail.add_argument("--fail-on", choices=("error", "warning", "cpu-op", "never"), default=None,
                      help="lowest finding that fails the run (default: error)")
    fail.add_argument("--min-tpu-ops-ratio", type=float, metavar="R", help="also fail when fewer than R of the ops map")
    fail.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings fail the run")
    fail.add_argument("--baseline", metavar="FILE", help="ignore the findings recorded in FILE (fail only on new ones)")
    fail.add_argument("--write-baseline", metavar="FILE", help="record every current finding in FILE, then pass")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    return p


def load_config(ns: argparse.Namespace) -> Any:
    from tpulint import config as cfg

    base = cfg.Config()
    if not ns.isolated:
        pyproject = Path(ns.config) if ns.config else cfg.find_pyproject(Path.cwd())
        if pyproject is not None:
            if not pyproject.is_file():
                raise TpulintError(f"{pyproject}: no such file")
            base = cfg.load_pyproject(pyproject, base)
    try:
        return _merged(cfg, base, ns)
    except cfg.InvalidValue as e:  # a command-line value: name the option as typed
        raise TpulintError(f"--{e.key.replace('_', '-')}: {e.problem}") from None


def _merged(cfg: Any, base: Any, ns: argparse.Namespace) -> Any:
    return cfg.merge(
        base,
        compiler=ns.compiler,
        min_runtime=ns.min_runtime,
        multiple_subgraphs=ns.multiple_subgraphs,
        intermediate_tensors=tuple(ns.intermediate_tensors) if ns.intermediate_tensors else None,
        select=tuple(ns.select) if ns.select else None,
        ignore=tuple(ns.ignore) if ns.ignore else None,
        fail_on=ns.fail_on,
        min_tpu_ops_ratio=ns.min_tpu_ops_ratio,
        runtime_version=ns.runtime_version,
    )


def error(message: str) -> None:
    from tpulint.render.escape import terminal_safe
    from tpulint.report import text

    print(f"tpulint: {terminal_safe(text(message))}", file=sys.stderr)


def write_atomically(path: str, text: str) -> None:
    """Write via a temporary file in the same folder, then rename: never half a report."""
    with atomic_output(path) as f:
        f.write(text)


@contextmanager
def atomic_output(path: str, binary: bool = False) -> Iterator[Any]:
    """A file (text, or binary) that replaces `path` only once the block completes; removed if anything fails,
    a signal included (see `main`).

    A symlink is written through: its target is replaced, the link kept. A FIFO, a device or another file
    that is not a regular one is written to directly, never replaced. The temporary file has a fresh name
    (O_EXCL), so a temporary left by a killed run can neither be reused nor trip a later one."""
    import secrets

    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        info = os.stat(target)
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        with open(target, "wb") if binary else open(target, "w", encoding="utf-8", newline="\n") as f:
            yield f
        return
    folder = os.path.dirname(os.path.abspath(target))
    tmp: str | None = None
    try:
        while tmp is None:
            # Named before it is created, so that a signal arriving as the file appears still removes it.
            tmp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            except FileExistsError:
                tmp = None
        os.chmod(tmp, stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") if binary else open(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        try:
            if tmp is not None:
                os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _overwrites_an_input(output: str, found: list[tuple[str, str | None]]) -> str | None:
    """The input model that writing the report to `output` would destroy, if any."""
    try:
        out = os.stat(output)
    except OSError:
        return None
    for path, problem in found:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (out.st_dev, out.st_ino):
            return path
    return None


def failing(doc: dict[str, Any], cfg: Any) -> bool:
    """Whether the run fails under --fail-on and --min-tpu-ops-ratio."""
    threshold = {"error": ("error",), "warning": ("error", "warning")}.get(cfg.fail_on)
    for m in doc["models"]:
        if m["error"] is not None:
            continue
        if threshold and any(f["severity"] in threshold for f in m["findings"]):
            return True
        if cfg.fail_on == "cpu-op" and m["summary"]["cpu_ops"] > (m.get("baseline") or {}).get("cpu_ops", 0):
            return True
        ops = m["summary"]["ops"]
        if cfg.min_tpu_ops_ratio is not None and ops and m["summary"]["tpu_ops"] / ops < cfg.min_tpu_ops_ratio:
            return True
    return False


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so that temporary files are removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """The command, with Ctrl-C (exit 130, one line) and SIGTERM/SIGHUP (exit 128 + the signal) unwinding
    through the cleanup of any half-written output."""
    import signal

    handled = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {}
    try:
        previous = {sig: signal.signal(sig, _terminate) for sig in handled}
    except ValueError:  # not the main thread: leave the signals alone
        pass
    try:
        return _main(argv)
    except KeyboardInterrupt:
        error("interrupted")
        return 128 + signal.SIGINT
    except Terminated as e:
        return 128 + e.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["rule"]:
        from tpulint.rule_command import main as rule_main

        return rule_main(argv[1:])
    parser = build_parser()
    ns = parser.parse_intermixed_args(argv)  # options may follow the paths: `tpulint m.tflite --format json`
    if not ns.paths:
        parser.print_usage(sys.stderr)
        error("no model given; try `tpulint model.tflite` or `tpulint --help`")
        return EXIT_ERROR
    try:
        cfg = load_config(ns)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    fmt = ns.format or "concise"
    from tpulint.render import FORMATS, SUMMARY_ONLY, RenderOptions, render

    if fmt not in FORMATS:
        error(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        return EXIT_ERROR

    from tpulint.report import ModelFailure, document

    found = list(iter_model_paths(ns.paths))
    for output in (ns.output, ns.write_baseline):
        victim = _overwrites_an_input(output, found) if output else None
        if victim is not None:
            error(f"{output}: refusing to overwrite {victim}, an input model")
            return EXIT_ERROR
    jobs = 1 if ns.co_compile else ns.jobs  # co-compiling shares the cache between the models' full reports
    if fmt == "json" and not (ns.co_compile or ns.baseline or ns.write_baseline):
        return _streamed_json(ns, cfg, found, jobs)
    send = "report" if ns.co_compile else "summary" if fmt in SUMMARY_ONLY else "entry"
    results: list[Any] = []
    unreadable = False
    for path, result, problem in _analysed(found, cfg, jobs, send, ns.debug):
        if result is None:
            unreadable = True
            result = ModelFailure(path, problem or "cannot be analysed")
        results.append(result)
    if ns.co_compile:
        from tpulint.checks.memory import apply_co_compile

        results = apply_co_compile(results)
    doc = document(results, cfg)
    if ns.baseline or ns.write_baseline:
        from tpulint import baseline as bl

        try:
            if ns.write_baseline:
                accepted = bl.build(doc, ns.write_baseline)
                write_atomically(ns.write_baseline, bl.dumps(accepted))
                print(f"tpulint: wrote {sum(sum(e['findings'].values()) for e in accepted['models'].values())} "
                      f"finding(s) of {len(accepted['models'])} model(s) to {ns.write_baseline}", file=sys.stderr)
                doc = bl.apply(doc, accepted, ns.write_baseline)
            else:
                doc = bl.apply(doc, bl.load(ns.baseline), ns.baseline)
        except (TpulintError, OSError) as e:
            error(str(e) if isinstance(e, TpulintError) else f"{ns.write_baseline}: cannot write: {e.strerror or e}")
            return EXIT_ERROR
    root = repo_root() if fmt in ("sarif", "github") else None
    text = render(doc, RenderOptions(format=fmt, color=_use_color(), statistics=ns.statistics, root=root))
    try:
        if ns.output:
            write_atomically(ns.output, text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    if unreadable:
        return EXIT_ERROR
    if failing(doc, cfg) and not ns.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def _streamed_json(ns: argparse.Namespace, cfg: Any, found: list[tuple[str, str | None]], jobs: int) -> int:
    """`--format json` written model by model as each is analysed (byte for byte what render() would give):
    each report is released once its entry is written, so memory stays that of one model, and with -j the
    workers lay out the JSON themselves, leaving the parent only the writing."""
    from tpulint.render.json import Stream
    from tpulint.report import ModelFailure, header, rules_of, streamed_entry

    summaries: list[dict[str, Any]] = []  # every entry without its ops: for the rules and the exit status
    unreadable = False
    results = _analysed(found, cfg, jobs, "json", ns.debug)
    try:
        with atomic_output(ns.output, binary=True) if ns.output else _stdout() as out:
            stream = Stream(header(cfg), out.write, binary=out is not sys.stdout)
            for path, result, problem in results:
                if result is None:
                    unreadable = True
                    entry = ModelFailure(path, problem or "cannot be analysed").to_dict()
                    stream.entry(entry)
                elif isinstance(result, tuple):  # from a worker: (entry laid out as text, entry without ops)
                    text, entry = result
                    stream.entry(text)
                else:
                    try:
                        entry = streamed_entry(result)
                    except Exception as e:  # noqa: BLE001 - a bug: this model's error, the document stays valid
                        unreadable = True
                        entry = _internal_failure(path, e, ns.debug)
                    del result  # the entry's op iterator holds the report until it is written
                    stream.entry(entry)
                    entry["ops"] = []
                summaries.append(entry)
            stream.close(rules_of(summaries))
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    finally:
        results.close()  # after a write error: clears the progress line and stops the worker processes
    if unreadable:
        return EXIT_ERROR
    if failing({"models": summaries}, cfg) and not ns.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def _internal_failure(path: str, e: Exception, debug: bool) -> dict[str, Any]:
    """The entry (and the stderr line) of a model whose report could not be laid out because of a bug."""
    import traceback

    from tpulint.report import ModelFailure
    from tpulint.runner import internal_error

    error(f"{path}: {internal_error(e)}")
    if debug:
        traceback.print_exc()
    return ModelFailure(path, internal_error(e)).to_dict()


def _analysed(found: list[tuple[str, str | None]], cfg: Any, jobs: int, send: str,
              debug: bool = False) -> Generator[tuple[str, Any, str | None], None, None]:
    """(path, result, problem) for every path found, in order: the readable ones analysed (in `jobs` processes,
    `send` as tpulint.runner.analyze_paths takes it), the others with their problem, printed on stderr as one
    line (an internal error's traceback follows it with `debug`); a progress line on a terminal meanwhile."""
    from tpulint.runner import Progress, analyze_paths

    readable = analyze_paths([path for path, problem in found if problem is None], cfg, jobs, send)
    progress = Progress(len(found))
    try:
        for done, (path, problem) in enumerate(found, 1):
            result = None
            if problem is None:
                path, result, problem = next(readable)
            if result is None:
                problem, _, trace = (problem or "cannot be analysed").partition("\n")
                progress.clear()
                error(f"{path}: {problem}")
                if trace and debug:
                    print(trace, file=sys.stderr)
            else:
                progress.update(done, path)
            yield path, result, problem
            result = None  # do not hold the report while the next model is analysed
        for _ in readable:  # finish the generator: stops the worker processes
            pass
    finally:
        progress.clear()
        readable.close()


@contextmanager
def _stdout() -> Iterator[Any]:
    """The binary stdout when there is one (the JSON stream is written as bytes), else sys.stdout."""
    binary = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    if binary is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    yield binary
    binary.flush()


def repo_root() -> str:
    """The folder SARIF paths are relative to: $GITHUB_WORKSPACE in Actions, else the enclosing git checkout."""
    if os.environ.get("GITHUB_WORKSPACE"):
        return os.environ["GITHUB_WORKSPACE"]
    here = Path.cwd()
    return str(next((d for d in (here, *here.parents) if (d / ".git").exists()), here))


def _use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
