"""The model files named on the command line: files as given, directories and globs walked once per real
directory (symlink loops cut), each real file reported once."""

from __future__ import annotations

import fnmatch
import glob
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

MODEL_PATTERN = "*.tflite"


def iter_model_paths(args: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """(path, problem) for each model named by files, directories or globs; problem is None when it can be read.

    A file given by name is always taken; a model found by walking a directory or a glob is taken once,
    however many symlinks lead to it, under its real path if it was found there."""
    taken: set[tuple[int, int]] = set()  # (device, inode) of the models found by walking
    for arg in args:
        if os.path.isdir(arg):
            found = _models_in(arg)
            if not found:
                yield arg, "directory contains no *.tflite files"
            yield from ((f, None) for f in _new(found, taken))
        elif os.path.lexists(arg):
            yield arg, None
        elif glob.has_magic(arg):
            matches = sorted(expand(arg))
            if not matches:
                yield arg, "no file matches this pattern"
            found = []
            for match in matches:
                if os.path.isdir(match):
                    inside = _models_in(match)
                    if not inside:
                        yield match, "directory contains no *.tflite files"
                    found += inside
                else:
                    found.append(match)
            yield from ((f, None) for f in _new(found, taken))
        else:
            yield arg, "no such file"


def _models_in(folder: str) -> list[str]:
    return list(_walk(folder, lambda names: fnmatch.fnmatchcase(names[-1], MODEL_PATTERN), None))


def _new(paths: list[str], taken: set[tuple[int, int]]) -> list[str]:
    """The paths, sorted, one per file not taken yet: the one without symlinks when there is one (a file that
    cannot be stat'ed is kept: reading it says why)."""
    out = []
    for path in sorted(paths, key=lambda p: (os.path.realpath(p) != os.path.abspath(p), p)):
        try:
            info = os.stat(path)
        except OSError:
            out.append(path)
            continue
        key = (info.st_dev, info.st_ino)
        if key not in taken:
            taken.add(key)
            out.append(path)
    return sorted(out)


def expand(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True), without entering a directory twice (symlink loops)."""
    parts = pattern.replace(os.sep, "/").split("/")
    fixed = 0
    while fixed < len(parts) - 1 and not glob.has_magic(parts[fixed]):
        fixed += 1
    base = "/".join(parts[:fixed]) or ("/" if pattern.startswith("/") else "")
    if base and not os.path.isdir(base):
        return []
    rest = parts[fixed:]
    return list(_walk(base, lambda names: _matches(rest, names), None if "**" in rest else len(rest),
                      directories=True, glob_paths=True))


def _walk(top: str, match: Callable[[list[str]], bool], depth: int | None, directories: bool = False,
          glob_paths: bool = False) -> Iterator[str]:
    """Paths under `top` (at most `depth` components below it) whose components `match`; files only unless
    `directories`. Without a depth limit each real directory is entered once. Paths are written as pathlib writes them (a
    directory's walk) or as glob does (`glob_paths`)."""
    seen: set[tuple[int, int]] = set()
    root = top or "."
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        # A symlink back into what was walked: a loop. Only an unbounded walk (a directory, `**`) can loop
        # forever; a bounded one (`dir/*/*.tflite`) goes through such links, as glob does.
        if depth is None and (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        rel = os.path.relpath(folder, root)
        names = [] if rel == "." else rel.replace(os.sep, "/").split("/")
        # Real directories first, so a folder reachable both ways is walked under its real path.
        dirs.sort(key=lambda d: (os.path.islink(os.path.join(folder, d)), d))
        for name in files + (dirs if directories else []):
            if len(names) < (depth or len(names) + 1) and match(names + [name]):
                if glob_paths:
                    path = os.path.join(top, *names, name) if top else os.path.join(*names, name)
                else:
                    path = str(Path(root, *names, name))
                if name in files and not glob_paths and not os.path.isfile(path):
                    continue  # a directory's walk skips dangling symlinks and special files (glob keeps them)
                yield path
        if depth is not None and len(names) + 1 >= depth:
            dirs[:] = []


def _matches(pattern: list[str], names: list[str]) -> bool:
    if not pattern:
        return not names
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return _matches(rest, names) or (bool(names) and not names[0].startswith(".") and _matches(pattern, names[1:]))
    return (bool(names) and fnmatch.fnmatchcase(names[0], head)
            and (not names[0].startswith(".") or head.startswith(".")) and _matches(rest, names[1:]))


__all__ = ["expand", "iter_model_paths"]
