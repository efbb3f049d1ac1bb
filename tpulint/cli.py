"""The `tpulint` command: parse arguments, analyse each model, render the report, choose the exit status."""

from __future__ import annotations

import argparse
import codecs
import glob
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

from tpulint._version import __version__
from tpulint.errors import TpulintError

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
    edgetpu.add_argument("--runtime-version", type=int, metavar="N",
                         help="check the models against an installed Edge TPU runtime version N")
    fail = p.add_argument_group("exit status")
    fail.add_argument("--fail-on", choices=("error", "warning", "cpu-op", "never"), default=None,
                      help="lowest finding that fails the run (default: error)")
    fail.add_argument("--min-tpu-ops-ratio", type=float, metavar="R", help="also fail when fewer than R of the ops map")
    fail.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings fail the run")
    fail.add_argument("--baseline", metavar="FILE", help="ignore the findings recorded in FILE (fail only on new ones)")
    fail.add_argument("--write-baseline", metavar="FILE", help="record every current finding in FILE, then pass")
    return p


STDIN = "-"


def iter_model_paths(args: Sequence[str], settings: Any = None) -> Iterator[tuple[str, str | None]]:
    """(path, problem) for each model named by files, directories or globs; problem is None when it can be read.

    Directories are searched for *.tflite files, skipping what `settings` (a Config or Discovery) excludes and
    what .gitignore ignores; files named outright are always analysed."""
    for arg in args:
        if arg == STDIN:
            yield arg, None
        elif os.path.isdir(arg):
            cfg = settings.for_path(os.path.join(arg, "*.tflite")) if settings is not None else None
            found, skipped = search_directory(arg, cfg)
            if not found:
                yield arg, "directory contains no *.tflite files" + (
                    f" ({skipped} excluded path{'s' if skipped != 1 else ''} skipped)" if skipped else "")
            yield from ((f, None) for f in found)
        elif os.path.lexists(arg):
            yield arg, None
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                yield arg, "no file matches this pattern"
            for match in matches:
                if os.path.isdir(match):
                    yield from iter_model_paths([match], settings)
                else:
                    yield match, None
        else:
            yield arg, "no such file"


def search_directory(directory: str, cfg: Any) -> tuple[list[str], int]:
    """The *.tflite files under `directory`, sorted, and how many folders and models were skipped because
    `cfg` excludes them (exclude, extend-exclude) or a .gitignore of their git checkout ignores them."""
    from tpulint.gitignore import Gitignore

    ignored = Gitignore.above(directory) if cfg is None or cfg.respect_gitignore else None
    found: list[str] = []
    skipped = 0

    def skip(path: str, is_dir: bool) -> bool:
        return (cfg is not None and cfg.excluded(path)) or (ignored is not None and ignored.ignores(path, is_dir))

    for folder, dirs, files in os.walk(directory):
        if ignored is not None:
            ignored.enter(folder)
        kept = [d for d in dirs if not skip(os.path.join(folder, d), True)]
        skipped += len(dirs) - len(kept)
        dirs[:] = kept
        for name in files:
            if not name.endswith(".tflite"):
                continue
            path = os.path.join(folder, name)
            if skip(path, False):
                skipped += 1
            elif os.path.isfile(path):
                found.append(str(Path(path)))
    return sorted(found), skipped


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
        exclude=tuple(ns.exclude) if ns.exclude is not None else None,
        extend_exclude=tuple(ns.extend_exclude) if ns.extend_exclude else None,
        respect_gitignore=False if ns.no_respect_gitignore else None,
    )
    return cfg.Discovery.start(files[0] if files else None, tuple(inline),
                               {k: v for k, v in options.items() if v is not None}, ns.isolated, Path.cwd())


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
    """A file (text, or binary) that replaces `path` only once the block completes; removed if anything fails."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
    out = []
    for m in doc["models"]:
        if m["error"] is not None:
            continue
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
        if cfg.min_tpu_ops_ratio is not None and s["ops"] and s["tpu_ops"] / s["ops"] < cfg.min_tpu_ops_ratio:
            ratio = (f"{s['tpu_ops']} of {s['ops']} ops ({100 * s['tpu_ops'] / s['ops']:.0f}%) on the Edge TPU, "
                     f"below min-tpu-ops-ratio {cfg.min_tpu_ops_ratio:g}")
        if fail_on or ratio:
            out.append(Failure(m["path"], fail_on, ratio))
    return out


def exit_status(doc: dict[str, Any], settings: Any, ns: argparse.Namespace, unreadable: bool) -> int:
    """2 when a model could not be analysed, 1 when the run fails (saying why for the ops ratio), else 0."""
    failed = failures(doc, settings)
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


def main(argv: Sequence[str] | None = None) -> int:
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
    stdin = sys.stdin.buffer.read() if STDIN in ns.paths else None
    jobs = 1 if ns.co_compile else ns.jobs  # co-compiling shares the cache between the models' full reports
    if fmt == "json" and not (ns.co_compile or ns.baseline or ns.write_baseline):
        return _streamed_json(ns, settings, found, jobs, stdin)
    results: list[Any] = []
    unreadable = False
    for path, result, problem in _analysed(found, settings, jobs, _send(fmt), stdin, ns):
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


def _streamed_json(ns: argparse.Namespace, settings: Any, found: list[tuple[str, str | None]], jobs: int,
                   stdin: bytes | None) -> int:
    """`--format json` written model by model as each is analysed (byte for byte what render() would give):
    each report is released once its entry is written, so memory stays that of one model, and with -j the
    workers lay out the JSON themselves, leaving the parent only the writing. A reader that goes away
    (`| head`) ends the run quietly."""
    from tpulint.render.json import Stream
    from tpulint.report import ModelFailure, header, rules_of, streamed_entry

    summaries: list[dict[str, Any]] = []  # every entry without its ops: for the rules and the exit status
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
                    entry = streamed_entry(result)
                    del result  # the entry's op iterator holds the report until it is written
                    stream.entry(entry)
                    entry["ops"] = []
                summaries.append(entry)
            stream.close(rules_of(summaries))
    except BrokenPipeError:
        discard_stdout()
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    finally:
        results.close()  # after a write error: clears the progress line and stops the worker processes
    return exit_status({"models": summaries}, settings, ns, unreadable)


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
                path, result, problem = analyze_entry(ns.stdin_filename or STDIN, cfg, stdin)
            elif problem is None:
                path, result, problem = next(readable)
            if result is None:
                progress.clear()
                error(f"{path}: {problem}")
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
