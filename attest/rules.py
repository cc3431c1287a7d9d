"""Rules on named values, e.g. safety parameters of a flight controller.

A rule is one of: an exact value (``FENCE_ENABLE=1``), a closed range
(``RTL_ALT=1500..12000``) or an allowed set (``FS_THR_ENABLE=1|2``). Numbers
compare with a relative tolerance of 1e-6, because flight controllers store
parameters as 32-bit floats (0.1 comes back as 0.10000000149).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from attest.errors import BaselineError, ConfigError

__all__ = ["Rule", "Value"]

Value = str | int | float


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
        forms = [
            self.equals is not None,
            self.minimum is not None or self.maximum is not None,
            self.allowed is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("a rule has exactly one of equals, a range, or allowed")

    def holds(self, value: Value) -> bool:
        """Whether ``value`` satisfies the rule."""
        if self.equals is not None:
            return _same(value, self.equals)
        if self.allowed is not None:
            return any(_same(value, a) for a in self.allowed)
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
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
