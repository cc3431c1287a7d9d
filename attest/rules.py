"""Rules on named values, e.g. safety parameters of a flight controller.

A rule is one of: an exact value (``FENCE_ENABLE=1``), a closed range
(``RTL_ALT=1500..12000``) or an allowed set (``FS_THR_ENABLE=1|2``). Numbers
compare with a relative tolerance of 1e-6, because flight controllers store
parameters as 32-bit floats (0.1 comes back as 0.10000000149). Range bounds
are finite numbers and only a finite number can be in a range.

Values named ``identity/<fact>`` (:data:`IDENTITY_PREFIX`) are identity facts:
text the device reports (a git hash, a board id). They compare as exact
strings, never as numbers (``identity/git_hash=12345678`` must not hold for
``12345690``), and have no ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from attest.errors import BaselineError, ConfigError

__all__ = ["IDENTITY_PREFIX", "Rule", "Value"]

Value = str | int | float

#: Names of identity facts, which compare as exact text.
IDENTITY_PREFIX = "identity/"


@dataclass(frozen=True)
class Rule:
    """A condition on one named value.

    Attributes:
        name: the value's name (e.g. ``param/FENCE_ENABLE``).
        equals: the one allowed value.
        minimum: lower bound of a range (inclusive).
        maximum: upper bound of a range (inclusive).
        allowed: the allowed set.
    """

    name: str
    equals: Value | None = None
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[Value, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse a rule that could judge wrongly.

        Raises:
            ValueError: not exactly one form; a range bound that is not a
                finite number, or a minimum above the maximum; a value that is
                not finite; an identity fact with a range or a non-text value.
        """
        is_range = self.minimum is not None or self.maximum is not None
        forms = [self.equals is not None, is_range, self.allowed is not None]
        if sum(forms) != 1:
            raise ValueError("a rule has exactly one of equals, a range, or allowed")
        values = (self.equals,) if self.equals is not None else (self.allowed or ())
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError("values must be finite")
        if is_range:
            for bound in (self.minimum, self.maximum):
                if bound is not None and (not isinstance(bound, int | float) or not math.isfinite(bound)):
                    raise ValueError(f"range bounds must be finite numbers (got {bound!r})")
            if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
                raise ValueError(f"the range is empty ({self.minimum} > {self.maximum})")
        if self.is_identity:
            if is_range:
                raise ValueError("an identity fact compares as exact text: use NAME=VALUE or NAME=A|B, not a range")
            if any(_fact_text(v) is None for v in values):
                raise ValueError("an identity fact compares as exact text: its values must be text")

    @property
    def is_identity(self) -> bool:
        """Whether the rule judges an identity fact (exact text, see the module docstring)."""
        return self.name.startswith(IDENTITY_PREFIX)

    def holds(self, value: Value) -> bool:
        """Whether ``value`` satisfies the rule."""
        if self.is_identity:
            got = _fact_text(value)
            want = (self.equals,) if self.equals is not None else (self.allowed or ())
            return got is not None and any(got == _fact_text(w) for w in want)
        if self.equals is not None:
            return _same(value, self.equals)
        if self.allowed is not None:
            return any(_same(value, a) for a in self.allowed)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return False
        lo = -math.inf if self.minimum is None else self.minimum
        hi = math.inf if self.maximum is None else self.maximum
        return lo - _tol(lo) <= value <= hi + _tol(hi)

    def describe(self) -> str:
        """The rule in the command-line syntax, for reports."""
        if self.equals is not None:
            return str(self.equals)
        if self.allowed is not None:
            return "|".join(str(a) for a in self.allowed)
        lo = "" if self.minimum is None else _num_text(self.minimum)
        hi = "" if self.maximum is None else _num_text(self.maximum)
        return f"{lo}..{hi}"

    @classmethod
    def parse(cls, spec: str) -> Rule:
        """Parse ``NAME=VALUE``, ``NAME=MIN..MAX`` or ``NAME=A|B|C``.

        Raises:
            ConfigError: the spec is not of one of those forms.
        """
        name, sep, body = spec.partition("=")
        if not sep or not name or not body:
            raise ConfigError(f"rule {spec!r}: expected NAME=VALUE, NAME=MIN..MAX or NAME=A|B|C")
        try:
            if name.startswith(IDENTITY_PREFIX):  # exact text: no numbers, no ranges
                if ".." in body:
                    raise ValueError("an identity fact compares as exact text: use NAME=VALUE or NAME=A|B, not a range")
                if "|" in body:
                    return cls(name, allowed=tuple(_text(v) for v in body.split("|")))
                return cls(name, equals=_text(body))
            if ".." in body:
                lo, _, hi = body.partition("..")
                if not lo and not hi:
                    raise ValueError("a range needs a bound")
                return cls(name, minimum=float(lo) if lo else None, maximum=float(hi) if hi else None)
            if "|" in body:
                return cls(name, allowed=tuple(_scalar(v) for v in body.split("|")))
            return cls(name, equals=_scalar(body))
        except ValueError as e:
            raise ConfigError(f"rule {spec!r}: {e}") from e

    def to_json(self) -> dict[str, Any]:
        """The rule as stored in a baseline's ``rules`` object."""
        if self.equals is not None:
            return {"equals": self.equals}
        if self.allowed is not None:
            return {"allowed": list(self.allowed)}
        out: dict[str, Any] = {}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out

    @classmethod
    def from_json(cls, name: str, data: Any) -> Rule:
        """Parse one stored rule.

        Raises:
            BaselineError: not of the stored shape.
        """
        try:
            if not isinstance(data, dict) or not data:
                raise ValueError("expected an object")
            unknown = set(data) - {"equals", "allowed", "min", "max"}
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            if "equals" in data:
                return cls(name, equals=_checked_scalar(data["equals"]))
            if "allowed" in data:
                if not isinstance(data["allowed"], list) or not data["allowed"]:
                    raise ValueError("allowed must be a non-empty list")
                return cls(name, allowed=tuple(_checked_scalar(v) for v in data["allowed"]))
            return cls(name, minimum=_checked_num(data.get("min")), maximum=_checked_num(data.get("max")))
        except ValueError as e:
            raise BaselineError(f"rule {name!r}: {e}") from e


def _text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    return text


def _fact_text(v: object) -> str | None:
    """An identity fact's exact text: a string as is, an integer in decimal; anything else has none."""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _scalar(text: str) -> Value:
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    for conv in (int, float):
        try:
            v = conv(text)
        except ValueError:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("values must be finite")
        return v
    return text


def _checked_scalar(v: Any) -> Value:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError(f"bad value {v!r}")  # noqa: TRY004 (bad data, not misuse)
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("values must be finite")
    return v


def _checked_num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"bad bound {v!r}")
    return float(v)


def _tol(x: float) -> float:
    return 0.0 if math.isinf(x) else 1e-6 * max(1.0, abs(x))


def _same(a: Value, b: Value) -> bool:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= _tol(float(b))
    return a == b


def _num_text(x: float) -> str:
    return str(int(x)) if x.is_integer() else str(x)
