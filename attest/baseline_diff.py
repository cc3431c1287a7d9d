"""What changed between two baselines: for review before a new version is signed.

Pure: :func:`diff_baselines` takes two parsed :class:`~attest.baseline.Baseline`
objects (plus the SHA-256 of each payload) and returns a :class:`BaselineDiff`;
nothing here reads a file, checks a signature or looks at the clock. The
diff covers every field of the predicate: name, version, creation, expiry,
the device kind and selector (``device.match``), the selection (include and
exclude globs, compared as sets: their order does not change what is
selected), every other collection setting, ``compare.owner``, every
component (kind, method, digest, every attribute), every rule and the
advisory globs (compared as a set, like the selection's). A
predicate field this module has no section for (one a later format adds)
is still diffed, generically, under ``other``.

Two baselines are the same exactly when their payload digests are equal
(the bytes that are, or will be, signed). When the digests differ but no
field does, the diff says so (``unexplained``): the payloads differ in
something this version does not read, and the reviewer must not take the
empty diff for "no change".

Values are compared as JSON data, type included: ``true`` is not ``1``
(Python's ``True == 1`` would hide that change); ``1`` and ``1.0`` are the
same number, as in the canonical payload.

:meth:`BaselineDiff.to_json` is the ``--json`` object of ``attest baseline
diff``; :func:`render_text` prints it for people, digests shortened, every
device-supplied text escaped (:func:`attest.report.printable`). A parameter
component (``param/NAME``) whose value changed reads ``param/RTL_ALT changed
1500 → 2345``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from attest.baseline import Baseline
from attest.report import printable
from attest.rules import Rule
from attest.selection import Selection
from attest.timeutil import format_time

__all__ = ["BaselineDiff", "Changes", "Pair", "Side", "diff_baselines", "render_text"]

#: Predicate fields with a section of their own; any other is diffed under ``other``.
_SECTIONED = frozenset(
    {"name", "version", "created", "expires", "device", "collection", "compare", "components", "rules", "advisory"}
)

#: Hex digits of a digest shown in text (the JSON has them all).
_SHORT = 12


@dataclass(frozen=True)
class Side:
    """One of the two baselines compared.

    Attributes:
        file: where it was read from (or will be written), for people.
        baseline: its parsed content (signatures NOT checked).
        digest: hex SHA-256 of its payload: the signed bytes, or for an
            unsigned Statement the canonical bytes ``sign`` will sign.
        signed: whether it was a DSSE envelope (with any signatures).
    """

    file: str
    baseline: Baseline
    digest: str
    signed: bool

    def to_json(self) -> dict[str, Any]:
        """``{"file", "name", "version", "digest", "signed"}``."""
        b = self.baseline
        return {"file": self.file, "name": b.name, "version": b.version, "digest": self.digest, "signed": self.signed}


@dataclass(frozen=True)
class Pair:
    """A single value in A and in B (equal or not)."""

    old: Any
    new: Any

    @property
    def changed(self) -> bool:
        """Whether the two differ (as JSON data, type included)."""
        return not _same(self.old, self.new)

    def to_json(self) -> dict[str, Any]:
        """``{"old", "new"}``."""
        return {"old": self.old, "new": self.new}


@dataclass(frozen=True)
class Changes:
    """Named entries added, removed and changed between two mappings.

    Attributes:
        added: ``(name, value in B)``, sorted by name.
        removed: ``(name, value in A)``, sorted by name.
        changed: ``(name, value in A, value in B)``, sorted by name.
    """

    added: tuple[tuple[str, Any], ...] = ()
    removed: tuple[tuple[str, Any], ...] = ()
    changed: tuple[tuple[str, Any, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        """``{"added": [{"name", "value"}], "removed": [{"name", "value"}], "changed": [{"name", "old", "new"}]}``."""
        return {
            "added": [{"name": n, "value": v} for n, v in self.added],
            "removed": [{"name": n, "value": v} for n, v in self.removed],
            "changed": [{"name": n, "old": o, "new": w} for n, o, w in self.changed],
        }


@dataclass(frozen=True)
class GlobChange:
    """Globs added to and removed from a set (include, exclude)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def to_json(self) -> dict[str, Any]:
        """``{"added": [...], "removed": [...]}``."""
        return {"added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True)
class BaselineDiff:
    """Everything that differs between baseline A and baseline B (see the module docstring)."""

    a: Side
    b: Side
    name: Pair
    version: Pair
    created: Pair
    expires: Pair
    device_kind: Pair
    device_match: Changes
    include: GlobChange
    exclude: GlobChange
    settings: Changes
    owner: Pair
    components: Changes
    rules: Changes
    advisory: GlobChange = field(default_factory=GlobChange)
    other: Changes = field(default_factory=Changes)

    @property
    def same(self) -> bool:
        """Whether A and B are the same baseline: the same payload digest."""
        return self.a.digest == self.b.digest

    @property
    def unexplained(self) -> bool:
        """The payloads differ, yet no field this module reads does."""
        return not self.same and not self._any_field_differs()

    def _any_field_differs(self) -> bool:
        pairs = (self.name, self.version, self.created, self.expires, self.device_kind, self.owner)
        sections = (self.device_match, self.include, self.exclude, self.settings, self.components, self.rules)
        return any(p.changed for p in pairs) or any(sections) or bool(self.advisory) or bool(self.other)

    @property
    def warnings(self) -> list[str]:
        """What a reviewer must not miss: not one baseline's history, or a version that does not go up."""
        out = []
        if self.name.changed:
            out.append(
                f"different baselines: name {self.name.old} → {self.name.new} "
                "(rollback protection is per name: B does not replace A on a dock)"
            )
        if self.device_kind.changed:
            out.append(f"different device kinds: {self.device_kind.old} → {self.device_kind.new}")
        if not self.same and not self.name.changed:
            if self.version.new < self.version.old:
                out.append(
                    f"the version goes down ({self.version.old} → {self.version.new}): "
                    "a dock that accepted A refuses B as a rollback"
                )
            elif self.version.new == self.version.old:
                out.append(
                    f"same version {self.version.old} with different contents: "
                    "a dock that accepted one accepts the other too (rollback protection compares versions only)"
                )
        if self.unexplained:
            out.append("the payloads differ in a field this version of attest does not read: review them by hand")
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object of ``attest baseline diff`` (fields in docs/cli.md)."""
        return {
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "same": self.same,
            "unexplained": self.unexplained,
            "warnings": self.warnings,
            "name": self.name.to_json(),
            "version": self.version.to_json(),
            "created": self.created.to_json(),
            "expires": self.expires.to_json(),
            "device": {"kind": self.device_kind.to_json(), "match": self.device_match.to_json()},
            "collection": {
                "include": self.include.to_json(),
                "exclude": self.exclude.to_json(),
                "settings": self.settings.to_json(),
            },
            "compare": {"owner": self.owner.to_json()},
            "components": {
                **self.components.to_json(),
                "count": {"old": len(self.a.baseline.components), "new": len(self.b.baseline.components)},
            },
            "rules": self.rules.to_json(),
            "advisory": self.advisory.to_json(),
            "other": self.other.to_json(),
        }


def diff_baselines(a: Side, b: Side) -> BaselineDiff:
    """What changed from ``a`` to ``b``."""
    old, new = a.baseline, b.baseline
    sel_old, sel_new = _selection(old), _selection(new)
    pred_old, pred_new = _predicate(old), _predicate(new)
    return BaselineDiff(
        a=a,
        b=b,
        name=Pair(old.name, new.name),
        version=Pair(old.version, new.version),
        created=Pair(format_time(old.created), format_time(new.created)),
        expires=Pair(_time(old), _time(new)),
        device_kind=Pair(old.device_kind, new.device_kind),
        device_match=diff_mappings(old.device_match, new.device_match),
        include=_glob_change(sel_old.include, sel_new.include),
        exclude=_glob_change(sel_old.exclude, sel_new.exclude),
        settings=diff_mappings(_settings(old), _settings(new)),
        owner=Pair(old.compare_owner, new.compare_owner),
        components=diff_mappings(pred_old["components"], pred_new["components"]),
        rules=diff_mappings(pred_old["rules"], pred_new["rules"]),
        advisory=_glob_change(old.advisory, new.advisory),
        other=diff_mappings(
            {k: v for k, v in pred_old.items() if k not in _SECTIONED},
            {k: v for k, v in pred_new.items() if k not in _SECTIONED},
        ),
    )


def diff_mappings(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    """Entries of ``new`` not in ``old``, of ``old`` not in ``new``, and in both but different (JSON data)."""
    return Changes(
        added=tuple((n, new[n]) for n in sorted(new.keys() - old.keys())),
        removed=tuple((n, old[n]) for n in sorted(old.keys() - new.keys())),
        changed=tuple((n, old[n], new[n]) for n in sorted(old.keys() & new.keys()) if not _same(old[n], new[n])),
    )


def _predicate(b: Baseline) -> dict[str, Any]:
    predicate: dict[str, Any] = b.to_statement()["predicate"]
    return predicate


def _selection(b: Baseline) -> Selection:
    return Selection.from_json(b.collection.get("selection", {"include": ["**"]}))


def _settings(b: Baseline) -> dict[str, Any]:
    """Every collection setting but the selection (which has sections of its own)."""
    return {k: v for k, v in b.collection.items() if k != "selection"}


def _time(b: Baseline) -> str | None:
    return format_time(b.expires) if b.expires is not None else None


def _glob_change(old: Iterable[str], new: Iterable[str]) -> GlobChange:
    before, after = set(old), set(new)
    return GlobChange(added=tuple(sorted(after - before)), removed=tuple(sorted(before - after)))


def _same(a: Any, b: Any) -> bool:
    """JSON equality with types: ``True`` is not ``1``; ``1`` is ``1.0`` (one canonical number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return False


# -- text ------------------------------------------------------------------------------------------


def render_text(d: BaselineDiff, stream: TextIO, *, notes: Sequence[str] = ()) -> None:
    """The diff for people: every change, one line each; digests shortened, every text escaped.

    Args:
        d: the diff.
        stream: where to write.
        notes: lines printed after the two baselines' names (e.g. whether signatures were checked).
    """
    w = stream.write
    for label, side in (("a", d.a), ("b", d.b)):
        b = side.baseline
        signed = "signed" if side.signed else "unsigned"
        w(f"{label}: {printable(side.file)}: {b.name} v{b.version}, payload sha256 {side.digest} ({signed})\n")
    for note in notes:
        w(f"{note}\n")
    for warning in d.warnings:
        w(f"WARNING: {printable(warning)}\n")
    if d.same:
        w("no differences: the same payload\n")
        return
    w(f"version:    {_pair(d.version)}\n")
    w(f"created:    {_pair(d.created)}\n")
    expires = Pair(d.expires.old or "never", d.expires.new or "never")
    w(f"expires:    {_pair(expires)}\n")
    if d.device_kind.changed or d.device_match:
        parts = [f"kind {_pair(d.device_kind)}"] if d.device_kind.changed else []
        parts += _change_words(d.device_match, "=")
        w(f"device:     {'; '.join(parts)}\n")
    if d.include or d.exclude or d.settings:
        w("collection:\n")
        for what, globs in (("include", d.include), ("exclude", d.exclude)):
            if globs:
                added = [f"+{printable(g)}" for g in globs.added]
                removed = [f"-{printable(g)}" for g in globs.removed]
                w(f"  {what}:  {' '.join(added + removed)}\n")
        for line in _change_words(d.settings, " "):
            w(f"  {line}\n")
    if d.owner.changed:
        w(f"owner:      {_owner(d.owner.old)} → {_owner(d.owner.new)}\n")
    count = f" ({len(d.a.baseline.components)} → {len(d.b.baseline.components)} components)"
    _section(w, "components", d.components, _component_text, _component_change, suffix=count)
    _section(w, "rules", d.rules, _rule_text, lambda n, old, new: f"{_rule_text(n, old)} → {_rule_text(n, new)}")
    if d.advisory:  # a glob added here stops blocking on differences it matches: a reviewer must see it
        added = [f"+{printable(g)}" for g in d.advisory.added]
        removed = [f"-{printable(g)}" for g in d.advisory.removed]
        w(f"advisory:   {' '.join(added + removed)} (differences there do not block)\n")
    _section(w, "other", d.other, lambda _n, v: _value(v), lambda _n, old, new: f"{_value(old)} → {_value(new)}")


def _section(
    w: Callable[[str], object],
    title: str,
    changes: Changes,
    show: Callable[[str, Any], str],
    change: Callable[[str, Any, Any], str],
    *,
    suffix: str = "",
) -> None:
    if not changes:
        return
    counts = f"{len(changes.added)} added, {len(changes.removed)} removed, {len(changes.changed)} changed"
    w(f"{title}: {counts}{suffix}\n")
    for name, value in changes.added:
        w(f"  {printable(name)} added: {show(name, value)}\n")
    for name, value in changes.removed:
        w(f"  {printable(name)} removed: {show(name, value)}\n")
    for name, old, new in changes.changed:
        w(f"  {printable(name)} changed {change(name, old, new)}\n")


def _change_words(changes: Changes, sep: str) -> list[str]:
    """``NAME=V added``, ``NAME=V removed``, ``NAME OLD → NEW`` (``sep`` between a name and its value)."""
    out = [f"{printable(n)}{sep}{_value(v)} added" for n, v in changes.added]
    out += [f"{printable(n)}{sep}{_value(v)} removed" for n, v in changes.removed]
    out += [f"{printable(n)} {_value(o)} → {_value(v)}" for n, o, v in changes.changed]
    return out


def _pair(p: Pair) -> str:
    return f"{_value(p.old)} → {_value(p.new)}" if p.changed else f"{_value(p.old)} (same)"


def _owner(compared: bool) -> str:
    return "true (uid/gid compared)" if compared else "false (uid/gid NOT compared)"


def _value(v: Any) -> str:
    """A JSON value in one line: text as it is (escaped), anything else as compact JSON."""
    if isinstance(v, str) and v:
        return printable(v)
    # JSON escapes controls; printable() the format characters JSON leaves alone.
    return printable(json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True))


def _digest(component: Mapping[str, Any], *, full: bool = False) -> str | None:
    d = component.get("digest")
    if not isinstance(d, dict):
        return None
    return f"sha256:{d['sha256']}" if full else f"sha256:{d['sha256'][:_SHORT]}…"


def _digest_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``sha256:0123456789ab… → sha256:…``; in full when the short forms would read alike."""
    full = _digest(old) == _digest(new)
    return f"{_digest(old, full=full) or '(no digest)'} → {_digest(new, full=full) or '(no digest)'}"


def _component_text(_name: str, c: Mapping[str, Any]) -> str:
    """``file sha256:0123456789ab… mode=0644 uid=0 gid=0 size=12`` (every attribute: a new setuid file shows)."""
    parts = [_value(c.get("kind"))]
    digest = _digest(c)
    if digest:
        parts.append(digest)
    attrs: Mapping[str, Any] = c.get("attributes", {})
    parts += [f"{printable(k)}={_value(v)}" for k, v in sorted(attrs.items())]
    if c.get("method") != "dock-read":
        parts.append(f"({_value(c.get('method'))})")
    return " ".join(parts)


def _component_change(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What changed in one component; a parameter's one changed value alone: ``1500 → 2345``."""
    attrs_old: Mapping[str, Any] = old.get("attributes", {})
    attrs_new: Mapping[str, Any] = new.get("attributes", {})
    keys = sorted(k for k in attrs_old.keys() | attrs_new.keys() if not _same(attrs_old.get(k), attrs_new.get(k)))
    parts = [f"{f} {_value(old.get(f))} → {_value(new.get(f))}" for f in ("kind", "method") if old.get(f) != new.get(f)]
    digest = None if _same(old.get("digest"), new.get("digest")) else _digest_change(old, new)
    if name.startswith("param/") and len(keys) == 1 and not parts:
        value = f"{_attr(attrs_old, keys[0])} → {_attr(attrs_new, keys[0])}"
        return f"{value} ({digest})" if digest else value
    if digest:
        parts.append(digest)
    parts += [f"{printable(k)} {_attr(attrs_old, k)} → {_attr(attrs_new, k)}" for k in keys]
    text = "; ".join(parts)
    if digest and old.get("kind") == "parameters":  # the old format: one digest over every parameter
        text += " (these baselines record one digest over the parameters, not each value)"
    return text


def _attr(attrs: Mapping[str, Any], key: str) -> str:
    return _value(attrs[key]) if key in attrs else "(none)"


def _rule_text(name: str, rule: Mapping[str, Any]) -> str:
    """A stored rule in the command-line syntax (``1``, ``1000..2000``, ``a|b``), as ``show`` prints it."""
    return printable(Rule.from_json(name, rule).describe())
