"""`.gitignore` rules as git applies them, for directory search: only inside a git checkout, from its root down."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    base: str  # absolute folder of the .gitignore the rule comes from
    pattern: re.Pattern[str]
    anchored: bool  # matched against the path relative to `base`, else against the name alone
    negate: bool
    dir_only: bool


def parse(text: str, base: str) -> list[Rule]:
    """The rules of one .gitignore (or .git/info/exclude) file in folder `base`."""
    rules = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith(("\\#", "\\!")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if line:
            rules.append(Rule(base, re.compile(_regex(line)), anchored, negate, dir_only))
    return rules


def _regex(glob: str) -> str:
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            break
        if c == "*":
            out.append(".*" if glob.startswith("**", i) else "[^/]*")
            i += 2 if glob.startswith("**", i) else 1
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            body = glob[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Gitignore:
    """The ignore rules met on the way down a directory search; `ignores(path)` as `git status` would."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.repos: list[str] = []  # roots of the git checkouts met (a nested checkout has rules of its own)
        self.entered: set[str] = set()

    @classmethod
    def above(cls, directory: str) -> "Gitignore":
        """The rules that apply to `directory` from the git checkout around it (none outside a checkout)."""
        ignored = cls()
        folder = os.path.abspath(directory)
        chain = [folder]
        while not os.path.exists(os.path.join(chain[-1], ".git")):
            parent = os.path.dirname(chain[-1])
            if parent == chain[-1]:
                return ignored
            chain.append(parent)
        for above in reversed(chain[1:]):
            ignored.enter(above)
        return ignored

    def enter(self, folder: str) -> None:
        """Read the .gitignore of `folder` (and, at a checkout's root, its .git/info/exclude)."""
        folder = os.path.abspath(folder)
        if folder in self.entered:
            return
        self.entered.add(folder)
        if os.path.exists(os.path.join(folder, ".git")):
            self.repos.append(folder)
            self._read(os.path.join(folder, ".git", "info", "exclude"), folder)
        self._read(os.path.join(folder, ".gitignore"), folder)

    def _read(self, file: str, base: str) -> None:
        try:
            with open(file, encoding="utf-8", errors="replace") as f:
                self.rules += parse(f.read(), base)
        except OSError:
            pass

    def ignores(self, path: str, is_dir: bool) -> bool:
        path = os.path.abspath(path)
        repo = max((r for r in self.repos if _inside(path, r)), key=len, default=None)
        if repo is None:
            return False
        ignored = False
        for rule in self.rules:
            if (rule.dir_only and not is_dir) or not _inside(path, rule.base) or not _inside(rule.base, repo):
                continue
            target = os.path.relpath(path, rule.base).replace(os.sep, "/") if rule.anchored else os.path.basename(path)
            if rule.pattern.fullmatch(target):
                ignored = not rule.negate
        return ignored


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


__all__ = ["Gitignore", "Rule", "parse"]
