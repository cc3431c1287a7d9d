"""Baselines: the approved state of a device, as an in-toto Statement v1.

The Statement's ``subject`` lists every component that has content, by
digest; its predicate (type :data:`PREDICATE_TYPE`) holds the rest: name,
monotonic version, expiry, device selector, the collection settings (so
verify measures exactly what create measured), every component with its
kind and attributes, rules on named values, and the optional ``advisory``
globs (:attr:`Baseline.advisory`). The payload is RFC 8785
canonical JSON, so the same baseline always has the same bytes and digest;
a payload that is not canonical (or not strict JSON: duplicate keys, huge
integers, NaN) is refused, so what a reviewer reads is the only reading.

Names are restricted to :data:`NAME_PATTERN` (ASCII letters, digits, ``.``,
``_``, ``-``; 1-64 characters, starting with a letter or digit): rollback
protection is per name, and two names that print alike
(``companion`` and ``companion\u200b``) must not be two baselines.

A :class:`Baseline` parsed here is *not* trusted; only
:func:`attest.trust.trust_baseline` makes a trusted one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785

from attest.errors import BaselineError, CollectionError, ConfigError
from attest.jsonutil import JSONFormatError, loads_canonical
from attest.model import Component, Evidence, Method
from attest.rules import Rule
from attest.selection import Selection, glob_to_regex
from attest.signing import Envelope
from attest.timeutil import format_time, parse_time

__all__ = [
    "NAME_PATTERN",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Baseline",
    "name_problem",
    "parse_envelope",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://drone-attest.dev/baseline/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

#: What a baseline name may be: ASCII only, so no two names print alike.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a baseline, or ``None`` when it can (see :data:`NAME_PATTERN`)."""
    if NAME_PATTERN.fullmatch(name) is None:
        return (
            f"baseline name {name[:80]!r} is not allowed: use 1-64 ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return None


#: The largest baseline file read (a tree of ~500,000 files).
MAX_BASELINE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Baseline:
    """The approved state of one kind of device.

    Attributes:
        name: the baseline's name; rollback protection is per name.
        version: positive integer, never lower than one already accepted.
        created: when it was made.
        expires: after this it is not trusted (``None``: never expires).
        device_kind: the collector kind it applies to.
        device_match: identity facts the device must report exactly.
        collection: the collector settings (``selection`` and collector extras).
        components: every approved component, by name.
        rules: conditions on named values.
        compare_owner: whether uid/gid changes are findings (off for image
            trees unpacked without their owners).
        advisory: globs (the selection's syntax, :mod:`attest.selection`)
            over component names (paths, ``param/NAME``): a difference there
            is recorded as an ``advisory`` finding and does not block
            (:mod:`attest.verifier`). Stored in the signed predicate only when
            there are any, in the order given; never empty, never a duplicate.
    """

    name: str
    version: int
    created: datetime
    expires: datetime | None
    device_kind: str
    device_match: Mapping[str, str]
    collection: Mapping[str, Any]
    components: Mapping[str, Component]
    rules: Mapping[str, Rule] = field(default_factory=dict)
    compare_owner: bool = True
    advisory: tuple[str, ...] = ()

    @classmethod
    def from_evidence(
        cls,
        evidence: Evidence,
        *,
        name: str,
        version: int,
        collection: Mapping[str, Any],
        expires: datetime | None = None,
        device_match: Mapping[str, str] | None = None,
        rules: Mapping[str, Rule] | None = None,
        compare_owner: bool = True,
        advisory: tuple[str, ...] = (),
        now: datetime | None = None,
    ) -> Baseline:
        """A baseline approving exactly what ``evidence`` measured.

        Raises:
            CollectionError: a component could not be read (a baseline must be complete).
            ValueError: ``version`` is not positive, ``name`` is not allowed
                (:func:`name_problem`), or ``advisory`` is not a list of
                distinct valid globs (misuse: the caller checks its input).
        """
        if version < 1:
            raise ValueError("version must be a positive integer")
        why = name_problem(name)
        if why is not None:
            raise ValueError(why)
        try:
            if advisory:  # none is the empty tuple, stored as no field at all
                _parse_advisory(list(advisory))
        except BaselineError as e:
            raise ValueError(str(e)) from e
        bad = [c for c in evidence.components.values() if c.error is not None or c.not_hashed is not None]
        if bad:
            why = bad[0].error or bad[0].not_hashed
            raise CollectionError(
                f"{len(bad)} component(s) could not be read, first {bad[0].name!r}: {why}; a baseline must be complete"
            )
        if not any(c.digest for c in evidence.components.values()):
            raise CollectionError("nothing with content was measured; check the device and --include/--exclude")
        return cls(
            name=name,
            version=version,
            created=now or datetime.now(UTC),
            expires=expires,
            device_kind=evidence.device.kind,
            device_match=dict(device_match or {}),
            collection=dict(collection),
            components=dict(sorted(evidence.components.items())),
            rules=dict(rules or {}),
            compare_owner=compare_owner,
            advisory=tuple(advisory),
        )

    # -- Statement <-> Baseline -------------------------------------------------

    def to_statement(self) -> dict[str, Any]:
        """The in-toto Statement v1 as JSON data (``advisory`` only when there are any)."""
        statement: dict[str, Any] = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": n, "digest": {"sha256": c.digest}} for n, c in self.components.items() if c.digest],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "name": self.name,
                "version": self.version,
                "created": format_time(self.created),
                "expires": format_time(self.expires) if self.expires else None,
                "device": {"kind": self.device_kind, "match": dict(self.device_match)},
                "collection": dict(self.collection),
                "compare": {"owner": self.compare_owner},
                "components": {n: c.to_json() for n, c in self.components.items()},
                "rules": {n: r.to_json() for n, r in sorted(self.rules.items())},
            },
        }
        if self.advisory:  # absent, not empty: a baseline without advisory marks keeps its one byte form
            statement["predicate"]["advisory"] = list(self.advisory)
        return statement

    def to_payload(self) -> bytes:
        r"""Canonical (RFC 8785) bytes of the Statement: what is signed.

        Raises:
            BaselineError: a text has no UTF-8 form (a lone surrogate, which a
                JSON escape such as ``\ud800`` in an unsigned Statement can carry).
        """
        try:
            return bytes(rfc8785.dumps(self.to_statement()))
        except rfc8785.CanonicalizationError as e:
            raise BaselineError(f"baseline {self.name!r} has no canonical form: {e}") from e

    @classmethod
    def from_payload(cls, payload: bytes, *, source: str = "baseline") -> Baseline:
        """Parse Statement bytes: what is signed, so they must be RFC 8785 canonical.

        Raises:
            BaselineError: not strict JSON (:mod:`attest.jsonutil`), not in
                canonical form, or not a baseline Statement of this version.
        """
        try:
            obj = loads_canonical(payload)
        except JSONFormatError as e:
            raise BaselineError(f"{source}: payload refused: {e}") from e
        return cls.from_statement(obj, source=source)

    @classmethod
    def from_statement(cls, obj: Any, *, source: str = "baseline") -> Baseline:
        """Parse a Statement's JSON data.

        Raises:
            BaselineError: any field is missing or of the wrong shape, or the
                subject list disagrees with the components.
        """
        try:
            return _parse_statement(obj)
        except (KeyError, TypeError, ValueError) as e:
            raise BaselineError(f"{source}: not a valid baseline statement: {_reason(e)}") from e
        except BaselineError as e:
            raise BaselineError(f"{source}: {e}") from e


def parse_envelope(data: bytes, *, source: str = "baseline") -> Envelope:
    """Parse a signed baseline's DSSE envelope and check its payload type; signatures are NOT checked.

    Raises:
        BaselineError: not an envelope, or not carrying an in-toto Statement.
    """
    env = Envelope.from_bytes(data, source=source)
    if env.payload_type != PAYLOAD_TYPE:
        raise BaselineError(f"{source}: payloadType is {env.payload_type!r}, expected {PAYLOAD_TYPE!r}")
    return env


def _reason(e: Exception) -> str:
    return f"missing field {e}" if isinstance(e, KeyError) else str(e)


def _parse_statement(obj: Any) -> Baseline:
    _expect(isinstance(obj, dict), "expected a JSON object")
    _expect(obj.get("_type") == STATEMENT_TYPE, f"_type is not {STATEMENT_TYPE}")
    _expect(obj.get("predicateType") == PREDICATE_TYPE, f"predicateType is not {PREDICATE_TYPE}")
    p = obj["predicate"]
    _expect(isinstance(p, dict), "predicate is not an object")
    name, version = p["name"], p["version"]
    _expect(isinstance(name, str), "name must be a string")
    why = name_problem(name)
    _expect(why is None, why or "")
    _expect(type(version) is int and version >= 1, "version must be a positive integer")
    _expect(isinstance(p["created"], str), "created must be a timestamp")
    expires = p.get("expires")
    _expect(expires is None or isinstance(expires, str), "expires must be a timestamp or null")
    device = p["device"]
    _expect(isinstance(device, dict) and isinstance(device.get("kind"), str), "device.kind missing")
    match = device.get("match", {})
    _expect(
        isinstance(match, dict) and all(isinstance(v, str) for v in match.values()),
        "device.match must map names to strings",
    )
    collection = p["collection"]
    _expect(isinstance(collection, dict), "collection must be an object")
    Selection.from_json(collection.get("selection", {"include": ["**"]}))
    compare = p.get("compare", {})
    _expect(isinstance(compare, dict) and isinstance(compare.get("owner", True), bool), "bad compare")
    comps_raw = p["components"]
    _expect(isinstance(comps_raw, dict) and bool(comps_raw), "components must be a non-empty object")
    components = {n: _parse_component(n, c) for n, c in comps_raw.items()}
    rules_raw = p.get("rules", {})
    _expect(isinstance(rules_raw, dict), "rules must be an object")
    rules = {n: Rule.from_json(n, r) for n, r in rules_raw.items()}
    advisory = _parse_advisory(p["advisory"]) if "advisory" in p else ()

    # The subject is the signed, standard view of the same digests: it must
    # agree with the predicate exactly, or one of them was tampered with.
    subject = obj["subject"]
    _expect(isinstance(subject, list) and bool(subject), "subject must be a non-empty list")
    subj: dict[str, str] = {}
    for s in subject:
        _expect(isinstance(s, dict) and isinstance(s.get("name"), str), "bad subject entry")
        d = s.get("digest")
        if not isinstance(d, dict) or not isinstance(d.get("sha256"), str):  # messages built only on failure
            raise BaselineError(f"subject {s['name']!r} has no sha256")
        if s["name"] in subj:
            raise BaselineError(f"subject {s['name']!r} listed twice")
        subj[s["name"]] = d["sha256"]
    with_digest = {n: c.digest for n, c in components.items() if c.digest}
    _expect(subj == with_digest, "subject digests disagree with predicate components")
    return Baseline(
        name=name,
        version=version,
        created=parse_time(p["created"]),
        expires=parse_time(expires) if expires else None,
        device_kind=device["kind"],
        device_match=dict(match),
        collection=collection,
        components=components,
        rules=rules,
        compare_owner=compare.get("owner", True),
        advisory=advisory,
    )


def _parse_advisory(raw: Any) -> tuple[str, ...]:
    """The predicate's ``advisory`` globs: a non-empty list of distinct, valid globs.

    Raises:
        BaselineError: any other shape (an empty list too: absent is the one form of none).
    """
    if not isinstance(raw, list) or not raw or not all(isinstance(g, str) and g for g in raw):
        raise BaselineError("advisory must be a non-empty list of non-empty glob strings (omit it for none)")
    if len(set(raw)) != len(raw):
        dup = next(g for i, g in enumerate(raw) if g in raw[:i])
        raise BaselineError(f"advisory: glob {dup!r} listed twice")
    for glob in raw:
        try:
            glob_to_regex(glob)
        except ConfigError as e:
            raise BaselineError(f"advisory: {e}") from e
    return tuple(raw)


def _parse_component(name: str, data: Any) -> Component:
    # Called once per component of baselines with thousands: the checks are plain
    # conditions, and a message is formatted only when one fails.
    if type(data) is not dict or type(data.get("kind")) is not str:
        raise BaselineError(f"component {name!r}: no kind")
    digest = None
    if "digest" in data:
        d = data["digest"]
        if type(d) is not dict or type(d.get("sha256")) is not str:
            raise BaselineError(f"component {name!r}: bad digest")
        digest = d["sha256"]
        if _SHA256_HEX.fullmatch(digest) is None:
            raise BaselineError(f"component {name!r}: bad sha256")
    attrs = data.get("attributes", {})
    if type(attrs) is not dict or not all(v is None or type(v) in _ATTRIBUTE_TYPES for v in attrs.values()):
        raise BaselineError(f"component {name!r}: bad attributes")
    if "error" in data:
        raise BaselineError(f"component {name!r}: a baseline cannot approve an unreadable component")
    raw_method = data.get("method", Method.DOCK_READ.value)
    method = _METHODS.get(raw_method) if type(raw_method) is str else None
    if method is None:
        raise BaselineError(f"component {name!r}: unknown method")
    return Component(name=name, kind=data["kind"], digest=digest, attributes=dict(attrs), method=method)


#: Attribute values a baseline may hold (bool is a subclass of int, named for clarity).
_ATTRIBUTE_TYPES = frozenset({str, int, bool})
_METHODS = {m.value: m for m in Method}


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise BaselineError(message)
