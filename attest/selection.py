"""Which paths of a device are measured: include and exclude globs.

The globs are stored in the baseline, so ``attest verify`` selects exactly
the set that ``attest baseline create`` measured. Patterns match paths
relative to the target's root, written with ``/``:

* ``*`` matches within one path segment, ``?`` one character, ``[...]`` a class;
* ``**`` matches any number of whole segments (``usr/**`` is everything below usr);
* a path is selected when it matches some include and no exclude.

A directory that only leads to excluded subtrees (``var`` and ``var/log`` for
``--exclude 'var/log/**'``) is still selected, so a baseline measures it when
it is there; :meth:`Selection.lead_ins` names those that a verification does
not report as unexpected when they are new (see its docstring).

Written by hand because :func:`fnmatch.fnmatch` lets ``*`` cross ``/`` and
``glob.translate`` arrived only in Python 3.13.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from attest.errors import BaselineError, ConfigError

__all__ = ["Selection", "glob_to_regex"]

#: The default include: everything.
ALL = ("**",)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile one glob pattern to an anchored regular expression.

    Raises:
        ConfigError: the pattern is empty, absolute, or has an unclosed class.
    """
    if not pattern or pattern.startswith("/"):
        raise ConfigError(f"glob {pattern!r}: must be a non-empty path relative to the target root")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            at_start = i == 0 or pattern[i - 1] == "/"
            at_end = i + 2 == n or pattern[i + 2] == "/"
            if not (at_start and at_end):
                raise ConfigError(f"glob {pattern!r}: '**' must be a whole path segment")
            if i + 2 == n:
                out.append(".*")  # 'a/**' : everything below a
                i += 2
            else:
                out.append("(?:.*/)?")  # '**/x' : x at any depth
                i += 3
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise ConfigError(f"glob {pattern!r}: unclosed '['")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("(?!/)[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as e:  # e.g. a reversed class range '[z-a]'
        raise ConfigError(f"glob {pattern!r}: {e}") from e


@dataclass(frozen=True)
class Selection:
    """Include and exclude globs; see the module docstring for the syntax."""

    include: tuple[str, ...] = ALL
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.include:
            raise ConfigError("a selection needs at least one include pattern")
        # Compile now so that a bad pattern fails at parse time, not mid-walk.
        _ = self._include_re, self._exclude_re

    @cached_property
    def _include_re(self) -> re.Pattern[str]:
        return _union(self.include)

    @cached_property
    def _exclude_re(self) -> re.Pattern[str] | None:
        return _union(self.exclude) if self.exclude else None

    def selects(self, path: str) -> bool:
        """Whether the relative path ``path`` is measured."""
        if self._exclude_re is not None and self._exclude_re.fullmatch(path):
            return False
        return self._include_re.fullmatch(path) is not None

    @cached_property
    def _prune_re(self) -> re.Pattern[str] | None:
        # Only excludes of the form 'P/**' exclude everything below a
        # directory matching P, so only they may prune a walk.
        heads = [p[:-3] for p in self.exclude if p.endswith("/**")]
        if "**" in self.exclude:
            heads.append("**")
        return _union(heads) if heads else None

    def prunes(self, directory: str) -> bool:
        """Whether nothing below ``directory`` can be selected (so a walk may skip it)."""
        return self._prune_re is not None and self._prune_re.fullmatch(directory) is not None

    def excludes(self, path: str) -> bool:
        """Whether some exclude pattern matches the relative path ``path`` itself."""
        return self._exclude_re is not None and self._exclude_re.fullmatch(path) is not None

    def lead_ins(self, listed: Iterable[tuple[str, bool]], *, keep: Callable[[str], bool]) -> set[str]:
        """The selected directories of a walk that only lead to excluded subtrees.

        Such a directory is not reported as unexpected when it appears: with
        ``--exclude 'var/log/**'``, a new ``var/log`` (whatever it holds) and a
        new ``var`` that holds only ``var/log`` are not findings. A directory
        only leads to excluded subtrees when everything below it is excluded:
        an exclude ``P/**`` covers its whole subtree (``var/log``), or it holds
        at least one entry and each is excluded by a pattern or is itself such
        a directory. Fail closed: an empty directory, or one holding anything
        selected (a new file directly in ``var``), an entry that is neither
        included nor excluded, or an entry ``keep`` names, is not one, and
        neither is a directory ``keep`` names itself.

        Args:
            listed: every entry the walk listed below the root, selected or
                not, as ``(name, is a directory)`` (lstat: a symlink is not).
            keep: names that stay reported whatever lies below them: those
                the baseline names (compared as usual) and those with an error.

        Returns:
            The names of those directories (a subset of the selected ones).
        """
        if self._exclude_re is None:
            return set()
        walked = list(listed)
        if not any(is_dir and not keep(n) and self.selects(n) for n, is_dir in walked):
            return set()  # the usual verification: no new directory at all
        entries = dict(walked)
        loud: set[str] = set()  # directories with something reported below them
        hushed: set[str] = set()  # directories with something excluded below them
        quiet: set[str] = set()
        for name in sorted(entries, key=lambda n: n.count("/"), reverse=True):  # children before parents
            parent = name.rpartition("/")[0]
            if name in loud or keep(name):
                loud.add(parent)
            elif self.selects(name):
                if entries[name] and (name in hushed or self.prunes(name)):
                    quiet.add(name)
                    hushed.add(parent)
                else:
                    loud.add(parent)  # a file, a symlink, an empty directory: reported
            elif self.excludes(name):
                hushed.add(parent)
            else:
                loud.add(parent)  # outside every include: not an excluded subtree
        return quiet

    def to_json(self) -> dict[str, Any]:
        """The ``selection`` object stored in a baseline."""
        return {"include": list(self.include), "exclude": list(self.exclude)}

    @classmethod
    def from_json(cls, data: Any) -> Selection:
        """Parse a baseline's ``selection`` object.

        Raises:
            BaselineError: the object is not of the documented shape.
        """
        if not isinstance(data, dict):
            raise BaselineError("selection: expected an object")
        inc, exc = data.get("include"), data.get("exclude", [])
        if not isinstance(inc, list) or not isinstance(exc, list) or not _is_str_list(inc + exc):
            raise BaselineError("selection: include and exclude must be lists of strings")
        try:
            return cls(include=tuple(inc), exclude=tuple(exc))
        except ConfigError as e:
            raise BaselineError(f"selection: {e}") from e

    @classmethod
    def from_args(cls, include: Sequence[str] | None, exclude: Sequence[str] | None) -> Selection:
        """Build from command-line ``--include``/``--exclude`` lists (``None`` means default)."""
        return cls(include=tuple(include) if include else ALL, exclude=tuple(exclude or ()))


def _union(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{glob_to_regex(p).pattern})" for p in patterns), re.DOTALL)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
