"""Rules on named values, e.g. safety parameters of a flight controller.

A rule is one of: an exact value (``FENCE_ENABLE=1``), a closed range
(``RTL_ALT=1500..12000``) or an allowed set (``FS_THR_ENABLE=1|2``). Numbers
compare with a relative tolerance of 1e-6, because flight controllers store
parameters as 32-bit floats (0.1 comes back as 0.10000000149). Range bounds
are finite numbers and only a finite number can be in a range.

Three more forms serve values that may be absent or are dates (Android
controllers, docs/android.md "Writing rules"):

* a forbidden set, ``NAME!=A|B`` (stored ``{"not": [A, B]}``): the value must be
  none of them; an absent value holds (a permission the app does not even ask
  for is not held: ``package/APP/permission/PERM!=granted``);
* absent, ``NAME!=*`` (stored ``{"absent": true}``): the value must not exist at
  all (a package that must not be installed: ``package/com.example.bad!=*``);
* a date range, ``NAME=2024-03-01..`` (bounds ``YYYY-MM-DD``, stored as text):
  only a value that is itself a valid ``YYYY-MM-DD`` date can be in it (a
  minimum security patch level: ``android/security_patch=2024-03-01..``).

Every other form treats an absent value as a finding (``missing``); see
:attr:`Rule.allows_absent`.

Values named ``identity/<fact>`` (:data:`IDENTITY_PREFIX`) are identity facts:
text the device reports (a git hash, a board id). They compare as exact
strings, never as numbers (``identity/git_hash=12345678`` must not hold for
``12345690``), and have no ranges.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from attest.errors import BaselineError, ConfigError

__all__ = ["IDENTITY_PREFIX", "Rule", "Value"]

Value = str | int | float

#: Names of identity facts, which compare as exact text.
IDENTITY_PREFIX = "identity/"

#: ``NAME!=*``: the value must be absent.
_ANY = "*"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Bound = float | str


@dataclass(frozen=True)
class Rule:
    """A condition on one named value.

    Attributes:
        name: the value's name (e.g. ``param/FENCE_ENABLE``).
        equals: the one allowed value.
        minimum: lower bound of a range (inclusive): a number, or a ``YYYY-MM-DD`` date.
        maximum: upper bound of a range (inclusive): a number, or a ``YYYY-MM-DD`` date.
        allowed: the allowed set.
        forbidden: values the value must not be (absent holds).
        absent: the value must not exist.
    """

    name: str
    equals: Value | None = None
    minimum: Bound | None = None
    maximum: Bound | None = None
    allowed: tuple[Value, ...] | None = None
    forbidden: tuple[Value, ...] | None = None
    absent: bool = False

    def __post_init__(self) -> None:
        """Refuse a rule that could judge wrongly.

        Raises:
            ValueError: not exactly one form; a range bound that is not a
                finite number or a valid date, bounds of both kinds, or a
                minimum above the maximum; a value that is not finite; an
                identity fact with a range or a non-text value; ``*`` in a
                forbidden set (write ``NAME!=*`` alone).
        """
        is_range = self.minimum is not None or self.maximum is not None
        forms = [self.equals is not None, is_range, self.allowed is not None, self.forbidden is not None, self.absent]
        if sum(forms) != 1:
            raise ValueError("a rule has exactly one of equals, a range, allowed, not, or absent")
        values = (self.equals,) if self.equals is not None else (self.allowed or self.forbidden or ())
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError("values must be finite")
        if self.forbidden is not None and _ANY in self.forbidden:
            raise ValueError("'*' stands alone: NAME!=* means the value must be absent")
        if is_range:
            self._check_range()
        if self.is_identity:
            if is_range:
                raise ValueError("an identity fact compares as exact text: use NAME=VALUE or NAME=A|B, not a range")
            if any(_fact_text(v) is None for v in values):
                raise ValueError("an identity fact compares as exact text: its values must be text")

    def _check_range(self) -> None:
        bounds = [b for b in (self.minimum, self.maximum) if b is not None]
        if all(isinstance(b, str) for b in bounds):
            for b in bounds:
                if _date(b) is None:
                    raise ValueError(f"a date bound is YYYY-MM-DD (got {b!r})")
        else:
            for b in bounds:
                if isinstance(b, bool) or not isinstance(b, int | float) or not math.isfinite(b):
                    raise ValueError(f"range bounds must be finite numbers or YYYY-MM-DD dates (got {b!r})")
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None and _key(lo) > _key(hi):
            raise ValueError(f"the range is empty ({lo} > {hi})")

    @property
    def is_identity(self) -> bool:
        """Whether the rule judges an identity fact (exact text, see the module docstring)."""
        return self.name.startswith(IDENTITY_PREFIX)

    @property
    def is_date_range(self) -> bool:
        """Whether the rule is a range of ``YYYY-MM-DD`` dates."""
        return isinstance(self.minimum, str) or isinstance(self.maximum, str)

    @property
    def allows_absent(self) -> bool:
        """Whether an absent value satisfies the rule (``NAME!=...`` forms); for every other form it is a finding."""
        return self.absent or self.forbidden is not None

    def holds(self, value: Value) -> bool:
        """Whether ``value`` (present) satisfies the rule."""
        if self.absent:
            return False
        if self.is_identity:
            got = _fact_text(value)
            want = (self.equals,) if self.equals is not None else (self.allowed or self.forbidden or ())
            hit = got is not None and any(got == _fact_text(w) for w in want)
            return got is not None and hit != (self.forbidden is not None)
        if self.equals is not None or self.allowed is not None or self.forbidden is not None:
            want = (self.equals,) if self.equals is not None else (self.allowed or self.forbidden or ())
            return any(_same(value, w) for w in want) != (self.forbidden is not None)
        if self.is_date_range:
            return _in_date_range(value, self.minimum, self.maximum)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return False
        lo = -math.inf if self.minimum is None else float(self.minimum)
        hi = math.inf if self.maximum is None else float(self.maximum)
        return lo - _tol(lo) <= value <= hi + _tol(hi)

    def describe(self) -> str:
        """The rule for reports: the command-line value (``not A|B`` and ``absent`` for the ``!=`` forms)."""
        if self.absent:
            return "absent"
        if self.equals is not None:
            return str(self.equals)
        if self.allowed is not None:
            return "|".join(str(a) for a in self.allowed)
        if self.forbidden is not None:
            return "not " + "|".join(str(f) for f in self.forbidden)
        lo = "" if self.minimum is None else _bound_text(self.minimum)
        hi = "" if self.maximum is None else _bound_text(self.maximum)
        return f"{lo}..{hi}"

    @classmethod
    def parse(cls, spec: str) -> Rule:
        """Parse ``NAME=VALUE``, ``NAME=MIN..MAX``, ``NAME=A|B|C``, ``NAME!=A|B`` or ``NAME!=*``.

        Raises:
            ConfigError: the spec is not of one of those forms.
        """
        name, sep, body = spec.partition("=")
        negated = bool(sep) and name.endswith("!")
        name = name.removesuffix("!") if negated else name
        if not sep or not name or not body:
            raise ConfigError(
                f"rule {spec!r}: expected NAME=VALUE, NAME=MIN..MAX, NAME=A|B|C, NAME!=A|B or NAME!=* (absent)"
            )
        try:
            if negated:
                return cls._parse_negated(name, body)
            if name.startswith(IDENTITY_PREFIX):  # exact text: no numbers, no ranges
                if ".." in body:
                    raise ValueError("an identity fact compares as exact text: use NAME=VALUE or NAME=A|B, not a range")
                if "|" in body:
                    return cls(name, allowed=tuple(_text(v) for v in body.split("|")))
                return cls(name, equals=_text(body))
            if ".." in body:
                return cls._parse_range(name, body)
            if "|" in body:
                return cls(name, allowed=tuple(_scalar(v) for v in body.split("|")))
            return cls(name, equals=_scalar(body))
        except ValueError as e:
            raise ConfigError(f"rule {spec!r}: {e}") from e

    @classmethod
    def _parse_negated(cls, name: str, body: str) -> Rule:
        """``NAME!=*`` (absent) or ``NAME!=A|B`` (forbidden values)."""
        if body.strip() == _ANY:
            return cls(name, absent=True)
        convert = _text if name.startswith(IDENTITY_PREFIX) else _scalar
        return cls(name, forbidden=tuple(convert(v) for v in body.split("|")))

    @classmethod
    def _parse_range(cls, name: str, body: str) -> Rule:
        """``MIN..MAX`` with either bound left out: numbers, or ``YYYY-MM-DD`` dates."""
        lo, _, hi = body.partition("..")
        lo, hi = lo.strip(), hi.strip()
        if not lo and not hi:
            raise ValueError("a range needs a bound")
        if any(_DATE.fullmatch(b) for b in (lo, hi)):
            return cls(name, minimum=lo or None, maximum=hi or None)
        return cls(name, minimum=float(lo) if lo else None, maximum=float(hi) if hi else None)

    def to_json(self) -> dict[str, Any]:
        """The rule as stored in a baseline's ``rules`` object."""
        if self.absent:
            return {"absent": True}
        if self.equals is not None:
            return {"equals": self.equals}
        if self.allowed is not None:
            return {"allowed": list(self.allowed)}
        if self.forbidden is not None:
            return {"not": list(self.forbidden)}
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
            unknown = set(data) - {"equals", "allowed", "min", "max", "not", "absent"}
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            if "absent" in data:
                if data["absent"] is not True or len(data) != 1:
                    raise ValueError("absent must be true and alone")
                return cls(name, absent=True)
            if "equals" in data:
                return cls(name, equals=_checked_scalar(data["equals"]))
            for key in ("allowed", "not"):
                if key in data:
                    if not isinstance(data[key], list) or not data[key]:
                        raise ValueError(f"{key} must be a non-empty list")
                    values = tuple(_checked_scalar(v) for v in data[key])
                    return cls(name, allowed=values) if key == "allowed" else cls(name, forbidden=values)
            return cls(name, minimum=_checked_bound(data.get("min")), maximum=_checked_bound(data.get("max")))
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


def _checked_bound(v: Any) -> Bound | None:
    """A stored range bound: a finite number, or a ``YYYY-MM-DD`` date as text."""
    if v is None:
        return None
    if isinstance(v, str):
        if _date(v) is None:
            raise ValueError(f"bad bound {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"bad bound {v!r}")
    return float(v)


def _date(text: object) -> date | None:
    """A ``YYYY-MM-DD`` text's date (a real calendar date), else ``None``."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _key(bound: Bound) -> Any:
    return _date(bound) if isinstance(bound, str) else bound


def _in_date_range(value: Value, lo: Bound | None, hi: Bound | None) -> bool:
    """Whether ``value`` is a ``YYYY-MM-DD`` date within the (date) bounds; anything else is not."""
    got = _date(value)
    if got is None:
        return False
    low, high = _date(lo), _date(hi)
    return (low is None or low <= got) and (high is None or got <= high)


def _tol(x: float) -> float:
    return 0.0 if math.isinf(x) else 1e-6 * max(1.0, abs(x))


def _same(a: Value, b: Value) -> bool:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= _tol(float(b))
    return a == b


def _bound_text(x: Bound) -> str:
    if isinstance(x, str):
        return x
    return str(int(x)) if x.is_integer() else str(x)
