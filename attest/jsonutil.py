"""Reading JSON from outside: strict, bounded, and (where it is signed) canonical.

Every JSON document this tool reads from a file, a device or a log copy goes
through :func:`loads`, which refuses what :func:`json.loads` quietly accepts:

* duplicate object keys (``json.loads`` keeps the last, so a reviewer and a
  verifier could read different values from the same bytes);
* ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, and outside RFC 8785);
* integers outside RFC 8785's exact range (|n| > 2**53 - 1: a 5,000-digit
  integer would otherwise raise ``ValueError`` deep in a parser, or be
  canonicalised to something else);
* nesting deeper than :data:`MAX_DEPTH` (``RecursionError``);
* bytes that are not UTF-8.

:func:`loads_canonical` also requires the bytes to be exactly their RFC 8785
canonical form, for payloads that are signed: what is signed is then the only
way to write what it means.

Every refusal is a ``JSONFormatError`` (a :class:`ValueError`) naming the
problem; callers turn it into their own error with its exit code.
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "JSONFormatError", "is_canonical", "loads", "loads_canonical"]

#: RFC 8785 (I-JSON): integers beyond this are not exact as IEEE 754 doubles.
MAX_SAFE_INTEGER = 2**53 - 1
#: Deeper nesting is refused before Python's recursion limit is near.
MAX_DEPTH = 64


class JSONFormatError(ValueError):
    """The bytes are not strict JSON of the accepted shape (the message says why)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONFormatError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _int(text: str) -> int:
    # Refuse by length first: int() of a huge digit string is itself slow.
    if len(text.lstrip("-")) > 16:
        raise JSONFormatError(f"integer {text[:20]}... is outside the exact range of RFC 8785")
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise JSONFormatError(f"integer {value} is outside the exact range of RFC 8785")
    return value


def _float(text: str) -> float:
    if len(text) > 64:
        raise JSONFormatError("number too long")
    value = float(text)
    if not math.isfinite(value):  # overflow like 1e999
        raise JSONFormatError(f"number {text} is not finite")
    return value


def _constant(name: str) -> Any:
    raise JSONFormatError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings, without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads(data: bytes | str) -> Any:
    """Parse strict JSON (see the module docstring).

    Raises:
        JSONFormatError: not UTF-8, not JSON, or a refused construct.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise JSONFormatError(f"not UTF-8 ({e.reason} at byte {e.start})") from e
    if _depth(text) > MAX_DEPTH:
        raise JSONFormatError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except JSONFormatError:
        raise
    except (ValueError, RecursionError) as e:
        raise JSONFormatError(f"not JSON: {e}") from e


def is_canonical(data: bytes, obj: Any) -> bool:
    """Whether ``data`` is exactly the RFC 8785 serialisation of ``obj``."""
    try:
        return bool(rfc8785.dumps(obj) == data)
    except rfc8785.CanonicalizationError:
        return False


def loads_canonical(data: bytes) -> Any:
    """Parse strict JSON that must also be in RFC 8785 canonical form (signed payloads).

    Raises:
        JSONFormatError: as :func:`loads`, or the bytes are not canonical.
    """
    obj = loads(data)
    if not is_canonical(data, obj):
        raise JSONFormatError("not in RFC 8785 canonical form (keys sorted, no spaces, minimal escapes)")
    return obj
