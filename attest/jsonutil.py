"""JSON at the trust boundary: strict reading from outside, exact data for what the dock signs.

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

:func:`jsonable` goes the other way: it makes data the dock signs (results,
dock events) encodable by RFC 8785 whatever a device reported.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "JSONFormatError",
    "is_canonical",
    "jsonable",
    "loads",
    "loads_canonical",
]

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


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(text: str) -> bool:
    """Whether ``[``/``{`` nest deeper than :data:`MAX_DEPTH` outside strings, without parsing."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # not enough openers to nest that deep: the common case, at C speed
    depth = 0
    # Strings removed by one regex pass (C speed); only the brackets are walked in Python.
    for ch in _BRACKET.findall(_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def loads(data: bytes | str) -> Any:
    """Parse strict JSON (see the module docstring).

    Raises:
        JSONFormatError: not UTF-8, not JSON, or a refused construct.
    """
    return _loads(data, _float)


def _loads(data: bytes | str, parse_float: Callable[[str], float]) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise JSONFormatError(f"not UTF-8 ({e.reason} at byte {e.start})") from e
    if _too_deep(text):
        raise JSONFormatError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_int,
            parse_float=parse_float,
            parse_constant=_constant,
        )
    except JSONFormatError:
        raise
    except (ValueError, RecursionError) as e:
        raise JSONFormatError(f"not JSON: {e}") from e


def is_canonical(data: bytes, obj: Any, *, has_floats: bool = True) -> bool:
    """Whether ``data`` is exactly the RFC 8785 serialisation of ``obj``.

    ``has_floats=False`` (the caller parsed ``obj`` and saw no float) allows a fast path.
    """
    if not has_floats and (data.isascii() or _ASTRAL.search(data) is None):
        # Without floats and without characters beyond the BMP (whose UTF-16 key order
        # differs), RFC 8785 is exactly json.dumps with sorted keys, no spaces, no ASCII
        # escaping: integers are exact (loads refuses |n| > 2**53 - 1), and both escape
        # only '"', '\\' and U+0000..U+001F, the same way (\b \t \n \f \r, else \u00xx).
        try:
            fast = json.dumps(
                obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
            )
            return fast.encode("utf-8") == data
        except (UnicodeEncodeError, ValueError):  # a lone surrogate: let rfc8785 judge
            pass
    try:
        return bool(rfc8785.dumps(obj) == data)
    except rfc8785.CanonicalizationError:
        return False


def loads_canonical(data: bytes) -> Any:
    """Parse strict JSON that must also be in RFC 8785 canonical form (signed payloads).

    Raises:
        JSONFormatError: as :func:`loads`, or the bytes are not canonical.
    """
    obj = _canonical_fast(data)
    if obj is not _SLOW:
        return obj
    # Refused by the fast path, or it cannot tell: parse again with every check, so
    # the message names the problem (a duplicate key rather than "not canonical").
    floats: list[str] = []

    def saw_float(text: str) -> float:
        floats.append(text)
        return _float(text)

    obj = _loads(data, saw_float)
    if not is_canonical(data, obj, has_floats=bool(floats)):
        raise JSONFormatError("not in RFC 8785 canonical form (keys sorted, no spaces, minimal escapes)")
    return obj


_SLOW = object()
#: A UTF-8 lead byte of a character beyond the BMP (RFC 8785 sorts keys by UTF-16).
_ASTRAL = re.compile(rb"[\xf0-\xff]")


def _canonical_fast(data: bytes) -> Any:
    """The parsed payload if it is canonical, else ``_SLOW``: the verdict of the full checks, faster.

    Signed baselines run to megabytes, and the checks that cost a Python call per
    object or a scan of the text (duplicate keys, integer range, depth) were most
    of the trust decision's time. For canonical bytes they are redundant or cheap:
    with a duplicate key ``json.loads`` keeps one value, so the re-serialisation
    differs from ``data``; depth and the integer range are checked on the parsed
    data (the C parser raises ``RecursionError`` long before the stack is at risk).
    """
    floats: list[str] = []

    def saw_float(text: str) -> float:
        floats.append(text)
        return _float(text)

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _SLOW
    try:
        # No parse_int hook (a Python call per integer): integers are range-checked in the
        # depth walk below, and one past Python's digit limit (4,300) fails the parse.
        obj = json.loads(text, parse_float=saw_float, parse_constant=_constant)
    except (ValueError, RecursionError):  # JSONFormatError included: the full path words it
        return _SLOW
    if _unsafe(obj, MAX_DEPTH) or not is_canonical(data, obj, has_floats=bool(floats)):
        return _SLOW
    return obj


def _unsafe(obj: Any, limit: int) -> bool:
    """Whether parsed JSON data is refused: nested more than ``limit`` deep, or an integer beyond ±2**53 - 1.

    Iterative; it visits every value once, so the integer check costs no call per integer.
    """
    if type(obj) is not dict and type(obj) is not list:
        return type(obj) is int and not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
            elif type(child) is int and not -MAX_SAFE_INTEGER <= child <= MAX_SAFE_INTEGER:
                return True
    return False


def jsonable(value: Any) -> Any:  # noqa: PLR0911 (one return per JSON type)
    """``value`` as JSON data that RFC 8785 accepts, for statements the dock signs.

    Findings carry whatever a device said; anything RFC 8785 cannot encode
    exactly (huge integers, NaN, bytes, names that are not valid Unicode)
    becomes a string rather than failing the signature. Sets become sorted lists.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 file name
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {jsonable(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    return jsonable(str(value))
