"""The `tpulint` command: parse arguments, analyse each model, render the report, choose the exit status."""

from __future__ import annotations

import argparse
import codecs
import os
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

from tpulint._version import __version__
from tpulint.errors import TpulintError
from tpulint.paths import STDIN, iter_model_paths

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

DESCRIPTION = """\
tpulint: predict what the Edge TPU compiler does to a TFLite model, without the compiler.

For every operator: Edge TPU or CPU, and why; where the model is cut and which op caused it;
whether edgetpu_compiler will accept the model at all.
"""

EPILOG = """\
Other commands:
  tpulint rule CODE       show the documentation of a rule (tpulint rule --all lists every rule)
  tpulint diff OLD NEW    what changed for the Edge TPU between two versions of a model

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
    out.add_argument("-q", "--quiet", action="store_true",
                     help="print the findings only: no verdict line for each model, no summary, no progress")
    out.add_argument("--stdin-filename", metavar="NAME",
                     help="the name of the model read from stdin (`-`), for the reports and the configuration")
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
    rules.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                       help="read [tool.tpulint] from FILE for every model (default: the nearest pyproject.toml above "
                            "each model), or override one setting (`--config \"compiler = '15.0'\"`); repeatable")
    rules.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    search = p.add_argument_group("directory search")
    search.add_argument("--exclude", type=_csv, metavar="GLOBS",
                        help="files and folders to skip, in place of the default list (.git, .venv, node_modules, ...)")
    search.add_argument("--extend-exclude", type=_csv, action="extend", metavar="GLOBS",
                        help="files and folders to skip, in addition to the excluded ones")
    search.add_argument("--no-respect-gitignore", action="store_true",
                        help="also search what .gitignore ignores")
    edgetpu = p.add_argument_group("Edge TPU memory and runtime")
    edgetpu.add_argument("--co-compile", action="store_true",
                         help="the models are compiled together, in the order given: split the on-chip cache")
    edgetpu.add_argument("--source", metavar="MODEL",
                         help="the uncompiled model of the compiled model given, to count the source ops each "
                              "Edge TPU custom op holds (default: the same name without _edgetpu, if present)")
    edgetpu.add_argument("--runtime-version", type=int, metavar="N",
                         help="check the models against an installed Edge TPU runtime version N")
    compare = p.add_argument_group("compare with a real compile")
    compare.add_argument("--compare", metavar="X_edgetpu.tflite",
                         help="attribute this compiled model to every op of the one model given, next to the prediction")
    compare.add_argument("--compare-log", metavar="X_edgetpu.log", help="the same from edgetpu_compiler's log")
    compare.add_argument("--compare-siblings", action="store_true", default=None,
                         help="compare each model with the X_edgetpu.tflite / X_edgetpu.log next to it, if any")
    fail = p.add_argument_group("exit status")
    fail.add_argument("--fail-on", choices=("error", "warning", "cpu-op", "mismatch", "never"), default=None,
                      help="lowest finding that fails the run (default: error); mismatch: the compile disagrees")
    fail.add_argument("--min-tpu-ops-ratio", type=float, metavar="R", help="also fail when fewer than R of the ops map")
    fail.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings fail the run")
    fail.add_argument("--baseline", metavar="FILE", help="ignore the findings recorded in FILE (fail only on new ones)")
    fail.add_argument("--write-baseline", metavar="FILE", help="record every current finding in FILE, then pass")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    return p


def load_config(ns: argparse.Namespace) -> Any:
    """The run's tpulint.config.Discovery: each model's settings, the command-line options over them."""
    from tpulint import config as cfg

    files: list[Path] = []
    inline = []
    for value in ns.config or ():
        table = cfg.inline_setting(value)
        if table is None:
            files.append(Path(value))
        else:
            inline.append((f"--config {value!r}", table))
    if len(files) > 1:
        raise TpulintError("give at most one --config FILE (and any number of --config KEY=VALUE)")
    if files and ns.isolated:
        raise TpulintError("--isolated ignores every configuration file: give --config FILE or --isolated, not both")
    if files and not files[0].is_file():
        raise TpulintError(f"{files[0]}: no such file")
    options = dict(
        compiler=ns.compiler,
        min_runtime=ns.min_runtime,
        multiple_subgraphs=ns.multiple_subgraphs,
        intermediate_tensors=tuple(ns.intermediate_tensors) if ns.intermediate_tensors else None,
        select=tuple(ns.select) if ns.select else None,
        ignore=tuple(ns.ignore) if ns.ignore else None,
        fail_on=ns.fail_on,
        min_tpu_ops_ratio=ns.min_tpu_ops_ratio,
        runtime_version=ns.runtime_version,
        source=ns.source,
        exclude=tuple(ns.exclude) if ns.exclude is not None else None,
        extend_exclude=tuple(ns.extend_exclude) if ns.extend_exclude else None,
        respect_gitignore=False if ns.no_respect_gitignore else None,
    )
    try:
        return cfg.Discovery.start(files[0] if files else None, tuple(inline),
                                   {k: v for k, v in options.items() if v is not None}, ns.isolated, Path.cwd())
    except cfg.InvalidValue as e:  # a command-line value: name the option as typed
        raise TpulintError(f"--{e.key.replace('_', '-')}: {e.problem}") from None


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


def failing(doc: dict[str, Any], settings: Any) -> bool:
    """Whether the run fails under each model's fail-on and min-tpu-ops-ratio (`settings`: a Config, or a
    Discovery giving each model's)."""
    return bool(failures(doc, settings))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an analysed model fails the run: its findings or CPU ops (fail-on), its ops ratio, or both."""

    path: str
    fail_on: str | None  # "2 errors", "5 ops on the CPU"
    ratio: str | None  # "1 of 4 ops (25%) on the Edge TPU, below min-tpu-ops-ratio 0.5": no finding says it

    @property
    def why(self) -> str:
        return "; ".join(x for x in (self.fail_on, self.ratio) if x)


def failures(doc: dict[str, Any], settings: Any) -> list[Failure]:
    """The analysed models that fail the run, under each one's fail-on and min-tpu-ops-ratio."""
    return [f for f in (failure_of(m, settings) for m in doc["models"]) if f is not None]


def failure_of(m: dict[str, Any], settings: Any) -> Failure | None:
    """Why the model entry `m` fails the run, if it does (None for a model that could not be analysed)."""
    from tpulint.render.fields import op_counts

    if m["error"] is not None:
        return None
    cfg = settings.for_path(m["path"])
    s = m["summary"]
    fail_on = ratio = None
    severities = {"error": ("error",), "warning": ("error", "warning")}.get(cfg.fail_on, ())
    failed = sum(1 for f in m["findings"] if f["severity"] in severities)
    if failed:
        plural = "s" if failed != 1 else ""
        fail_on = f"{failed} error{plural}" + (f" or warning{plural}" if cfg.fail_on == "warning" else "")
    accepted = (m.get("baseline") or {}).get("cpu_ops", 0)
    if cfg.fail_on == "cpu-op" and s["cpu_ops"] > accepted:
        fail_on = f"{s['cpu_ops']} ops on the CPU" + (f" (baseline: {accepted})" if accepted else "")
    mismatches = len((m.get("actual") or {}).get("mismatches") or ())
    if cfg.fail_on == "mismatch" and mismatches:
        fail_on = f"{mismatches} op{'s' if mismatches != 1 else ''} placed otherwise by the real compile"
    counts = op_counts(m)  # a compiled model counts its source's ops, or not at all without them
    if cfg.min_tpu_ops_ratio is not None and counts and counts[2] and counts[0] / counts[2] < cfg.min_tpu_ops_ratio:
        on_tpu, _, total = counts
        ratio = (f"{on_tpu} of {total} ops ({100 * on_tpu / total:.0f}%) on the Edge TPU, "
                 f"below min-tpu-ops-ratio {cfg.min_tpu_ops_ratio:g}")
    return Failure(m["path"], fail_on, ratio) if fail_on or ratio else None


def exit_status(doc: dict[str, Any], settings: Any, ns: argparse.Namespace, unreadable: bool) -> int:
    """2 when a model could not be analysed, 1 when the run fails (saying why for the ops ratio), else 0."""
    return _exit_status(failures(doc, settings), ns, unreadable)


def _exit_status(failed: list[Failure], ns: argparse.Namespace, unreadable: bool) -> int:
    for f in failed:
        if f.ratio:
            error(f"{f.path}: {f.ratio}")
    if unreadable:
        return EXIT_ERROR
    if failed and not ns.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def console_text(text: str, stream: Any, html: bool = False) -> str:
    """`text` as `stream` can encode it: characters it cannot are escaped (\\u2192), in HTML as character
    references in an ASCII page (the page declares UTF-8, which ASCII is; a cp1252 byte would not be)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        if html and not codecs.lookup(encoding).name.startswith("utf"):
            return text.encode("ascii", "xmlcharrefreplace").decode("ascii")
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text


def write_stdout(text: str, html: bool = False) -> None:
    """Write a report to stdout in what its encoding can hold; a reader that went away (`| head`) ends the
    output silently."""
    try:
        sys.stdout.write(console_text(text, sys.stdout, html))
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()


def discard_stdout() -> None:
    """After a broken pipe: send what is still buffered, and everything after it, to the null device, so
    neither a later write nor the flush at exit reports the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


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
    if argv[:1] == ["diff"]:
        from tpulint.diff_command import main as diff_main

        return diff_main(argv[1:])
    parser = build_parser()
    ns = parser.parse_intermixed_args(argv)  # options may follow the paths: `tpulint m.tflite --format json`
    if not ns.paths:
        parser.print_usage(sys.stderr)
        error("no model given; try `tpulint model.tflite` or `tpulint --help`")
        return EXIT_ERROR
    if ns.paths.count(STDIN) > 1:
        error("`-` (stdin) can be given only once")
        return EXIT_ERROR
    try:
        settings = load_config(ns)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    cfg = settings.default  # the run's own target, in the reports' headers
    fmt = ns.format or "concise"
    from tpulint.render import FORMATS, RenderOptions, render

    if fmt not in FORMATS:
        error(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        return EXIT_ERROR

    from tpulint.report import ModelFailure, document

    try:
        found = list(iter_model_paths(ns.paths, settings))
        for path, problem in found:  # every configuration a model needs, read before anything is written
            if problem is None:
                settings.for_path(ns.stdin_filename or STDIN if path == STDIN else path)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    for output in (ns.output, ns.write_baseline):
        victim = _overwrites_an_input(output, found) if output else None
        if victim is not None:
            error(f"{output}: refusing to overwrite {victim}, an input model")
            return EXIT_ERROR
    stdin = sys.stdin.buffer.read() if STDIN in ns.paths else None
    try:
        evidence = _evidence(ns, settings, found)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    # co-compiling shares the cache between the models' full reports; a compare needs the reports too
    jobs = 1 if ns.co_compile or evidence else ns.jobs
    if fmt == "json" and not (ns.co_compile or ns.baseline or ns.write_baseline or evidence):
        return _streamed_json(ns, settings, found, jobs, stdin)
    if fmt not in _WHOLE_DOCUMENT and not (ns.co_compile or ns.baseline or ns.write_baseline):
        return _streamed_report(ns, settings, found, jobs, stdin, fmt, evidence)
    send = "report" if ns.co_compile or evidence else _send(fmt)
    results: list[Any] = []
    unreadable = False
    for path, result, problem in _analysed(found, settings, jobs, send, stdin, ns):
        if result is None:
            unreadable = True
            result = ModelFailure(path, problem or "cannot be analysed")
        elif path in evidence:
            result, problem = _compared(result, evidence[path], settings.for_path(path))
            if problem:
                unreadable = True
                error(problem)
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
                if not ns.quiet:
                    print(f"tpulint: wrote {sum(sum(e['findings'].values()) for e in accepted['models'].values())} "
                          f"finding(s) of {len(accepted['models'])} model(s) to {ns.write_baseline}", file=sys.stderr)
                doc = bl.apply(doc, accepted, ns.write_baseline)
            else:
                doc = bl.apply(doc, bl.load(ns.baseline), ns.baseline)
        except (TpulintError, OSError) as e:
            error(str(e) if isinstance(e, TpulintError) else f"{ns.write_baseline}: cannot write: {e.strerror or e}")
            return EXIT_ERROR
    root = repo_root() if fmt in ("sarif", "github") else None
    options = RenderOptions(format=fmt, color=_use_color(), statistics=ns.statistics, root=root, quiet=ns.quiet)
    try:
        write_report(doc, options, ns.output)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    return exit_status(doc, settings, ns, unreadable)


def write_report(doc: dict[str, Any], options: Any, output: str | None) -> None:
    """Render `doc` and write it to `output` (None: stdout). Model Explorer overlays one model at a time: with
    several models the output is a folder holding one node-data file per model."""
    from tpulint.render import render

    if options.format == "model-explorer":
        analysed = [m for m in doc["models"] if m["error"] is None]
        if output is not None and (len(analysed) > 1 or os.path.isdir(output)):
            from tpulint.render.model_explorer import files

            os.makedirs(output, exist_ok=True)
            written = files(doc)
            for name, text in written.items():
                write_atomically(os.path.join(output, name), text)
            if not options.quiet:
                print(f"tpulint: wrote {len(written)} Model Explorer node-data file(s) to {output}", file=sys.stderr)
            return
        if len(analysed) > 1:
            raise TpulintError(f"--format model-explorer: {len(analysed)} models, and Model Explorer overlays one "
                               "at a time: give -o DIR for one node-data file per model")
    text = render(doc, options)
    if output:
        write_atomically(output, text)
    else:
        write_stdout(text, html=options.format == "html")


def _send(fmt: str) -> str:
    """What `-j` workers send back for `fmt` (tpulint.runner.worker_result)."""
    from tpulint.render import SUMMARY_ONLY

    return "summary" if fmt in SUMMARY_ONLY else "entry"


def _evidence(ns: argparse.Namespace, settings: Any, found: list[tuple[str, str | None]]) -> dict[str, tuple[Any, Any]]:
    """Model path -> (compiled model, log) to compare it with: given by --compare / --compare-log (one model),
    or found next to each model with --compare-siblings."""
    if ns.compare or ns.compare_log:
        if len(found) != 1 or found[0][1] is not None:
            raise TpulintError("--compare and --compare-log take exactly one model to compare with")
        for given in (ns.compare, ns.compare_log):
            if given is not None and not os.path.isfile(given):
                raise TpulintError(f"{given}: {'not a file' if os.path.exists(given) else 'no such file'}")
        return {found[0][0]: (ns.compare, ns.compare_log)}
    wanted = [path for path, problem in found if problem is None and path != STDIN
              and (ns.compare_siblings or settings.for_path(path).compare_siblings)]
    if not wanted:  # the usual run: tpulint.compare not even imported
        return {}
    from tpulint.compare import siblings

    pairs = {path: siblings(path) for path in wanted}
    return {path: pair for path, pair in pairs.items() if pair != (None, None)}


def _compared(report: Any, files: tuple[Any, Any], cfg: Any) -> tuple[Any, str | None]:
    """The report's JSON entry with the real compile attributed to its ops, or (report, why the files do not
    belong) when they do not."""
    from tpulint.compare import actual_for
    from tpulint.comparison import annotate
    from tpulint.report import model_entry

    if report.compiled:
        return report, f"{report.path}: already compiled; compare the source model with it"
    try:
        actual = actual_for(report.model, report.graphs[0], *files)
    except TpulintError as e:
        return report, str(e)
    return annotate(model_entry(report), actual, cfg.compiler), None


def _streamed_json(ns: argparse.Namespace, settings: Any, found: list[tuple[str, str | None]], jobs: int,
                   stdin: bytes | None) -> int:
    """`--format json` written model by model as each is analysed (byte for byte what render() would give):
    each report is released once its entry is written, so memory stays that of one model, and with -j the
    workers lay out the JSON themselves, leaving the parent only the writing. A reader that goes away
    (`| head`) ends the run quietly."""
    from tpulint.render.json import Stream
    from tpulint.report import ModelFailure, header, rule_metadata, streamed_entry

    failed: list[Failure] = []  # what the exit status and the rules need of each model, not its entry
    codes: set[str] = set()
    unreadable = False
    results = _analysed(found, settings, jobs, "json", stdin, ns)
    try:
        with atomic_output(ns.output, binary=True) if ns.output else _stdout() as out:
            stream = Stream(header(settings.default), out.write, binary=out is not sys.stdout)
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
                failure = failure_of(entry, settings)
                if failure is not None:
                    failed.append(failure)
                codes.update(f["code"] for f in entry["findings"])
                del entry
            stream.close(rule_metadata(sorted(codes), settings.default.compiler))
    except BrokenPipeError:
        discard_stdout()
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    finally:
        results.close()  # after a write error: clears the progress line and stops the worker processes
    return _exit_status(failed, ns, unreadable)


# Formats still rendered from the whole document (every model's entry held until the end).
_WHOLE_DOCUMENT: frozenset[str] = frozenset()


def _streamed_report(ns: argparse.Namespace, settings: Any, found: list[tuple[str, str | None]], jobs: int,
                     stdin: bytes | None, fmt: str, evidence: dict[str, tuple[Any, Any]]) -> int:
    """Every format but JSON, written model by model as each is analysed (the same text as render() of the
    whole document): each model is rendered, its op rows streamed from its report, then released; the run
    keeps only what the exit status and the formats' run-level parts need (tpulint.render.Writer)."""
    from tpulint.render import RenderOptions, open_writer
    from tpulint.report import ModelFailure, header, rule_metadata, streamed_entry

    from tpulint.runner import default_jobs

    readable = sum(1 for path, problem in found if problem is None and path != STDIN)
    parallel = readable > 1 and (jobs if jobs > 0 else default_jobs()) > 1
    send = _send(fmt) if parallel else "report"  # in this process: the report itself, its ops built as written
    root = repo_root() if fmt in ("sarif", "github") else None
    options = RenderOptions(format=fmt, color=_use_color(), statistics=ns.statistics, root=root, quiet=ns.quiet)
    failed: list[Failure] = []
    codes: set[str] = set()
    unreadable = False
    results = _analysed(found, settings, jobs, send, stdin, ns)
    explorer = fmt == "model-explorer"  # one model's text, written at the end, or a folder of files
    held: list[str] = []
    try:
        with (_held(held) if explorer else atomic_output(ns.output) if ns.output else
              _text_stdout(fmt == "html")) as out:
            writer = open_writer(options, header(settings.default), len(found), out.write,
                                 **({"directory": ns.output, "save": write_atomically, "strict": True} if explorer else {}))
            for path, result, problem in results:
                if result is None:
                    unreadable = True
                    entry = ModelFailure(path, problem or "cannot be analysed").to_dict()
                elif isinstance(result, dict):  # from a worker
                    entry = result
                else:
                    if path in evidence:
                        result, problem = _compared(result, evidence[path], settings.for_path(path))
                        if problem:
                            unreadable = True
                            error(problem)
                    try:
                        entry = result if isinstance(result, dict) else streamed_entry(result)
                    except Exception as e:  # noqa: BLE001 - a bug: this model's error, the rest still reported
                        unreadable = True
                        entry = _internal_failure(path, e, ns.debug)
                del result  # the entry's OpRows holds the report until the model is written
                writer.model(entry)
                failure = failure_of(entry, settings)
                if failure is not None:
                    failed.append(failure)
                codes.update(f["code"] for f in entry["findings"])
                del entry
            writer.close(rule_metadata(sorted(codes), settings.default.compiler))
        if explorer:
            written = getattr(writer, "written", None)
            if written is not None:
                if not ns.quiet:
                    print(f"tpulint: wrote {written} Model Explorer node-data file(s) to {ns.output}", file=sys.stderr)
            elif ns.output:
                with atomic_output(ns.output) as f:
                    for piece in held:
                        f.write(piece)
            else:
                for piece in held:
                    write_stdout(piece)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    finally:
        results.close()  # after a write error: clears the progress line and stops the worker processes
    return _exit_status(failed, ns, unreadable)


class _Held:
    def __init__(self, parts: list[str]) -> None:
        self.write = parts.append


@contextmanager
def _held(parts: list[str]) -> Iterator[_Held]:
    """A text file whose `write` keeps the text in `parts`."""
    yield _Held(parts)


class _StdoutText:
    """stdout as a text file whose `write` is write_stdout's (what the encoding can hold; a closed pipe ends
    the output quietly)."""

    def __init__(self, html: bool) -> None:
        self.html = html

    def write(self, text: str) -> None:
        write_stdout(text, self.html)


@contextmanager
def _text_stdout(html: bool) -> Iterator[_StdoutText]:
    yield _StdoutText(html)


def _internal_failure(path: str, e: Exception, debug: bool) -> dict[str, Any]:
    """The entry (and the stderr line) of a model whose report could not be laid out because of a bug."""
    import traceback

    from tpulint.report import ModelFailure
    from tpulint.runner import internal_error

    error(f"{path}: {internal_error(e)}")
    if debug:
        traceback.print_exc()
    return ModelFailure(path, internal_error(e)).to_dict()


def _analysed(found: list[tuple[str, str | None]], cfg: Any, jobs: int, send: str, stdin: bytes | None,
              ns: argparse.Namespace) -> Generator[tuple[str, Any, str | None], None, None]:
    """(path, result, problem) for every path found, in order: the readable ones analysed (in `jobs` processes,
    `send` as tpulint.runner.analyze_paths takes it; the model on stdin in this one), the others with their
    problem, printed on stderr as one line; a progress line on a terminal meanwhile."""
    from tpulint.runner import Progress, analyze_entry, analyze_paths

    readable = analyze_paths([path for path, problem in found if problem is None and path != STDIN], cfg, jobs, send)
    progress = Progress(0 if ns.quiet else len(found))
    try:
        for done, (path, problem) in enumerate(found, 1):
            result = None
            if path == STDIN:
                path, result, problem = analyze_entry(ns.stdin_filename or STDIN, cfg, data=stdin)
            elif problem is None:
                path, result, problem = next(readable)
            if result is None:
                problem, _, trace = (problem or "cannot be analysed").partition("\n")
                progress.clear()
                error(f"{path}: {problem}")
                if trace and ns.debug:
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
