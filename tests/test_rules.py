"""Rules on named values: exact, range, allowed set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attest.errors import AttestError, BaselineError, ConfigError
from attest.rules import Rule


def test_exact_value_tolerates_float32_rounding() -> None:
    rule = Rule.parse("WPNAV_SPEED=0.1")
    assert rule.holds(0.10000000149011612)  # what a float32 parameter reads back as
    assert not rule.holds(0.2)


def test_range_is_inclusive() -> None:
    rule = Rule.parse("RTL_ALT=1500..12000")
    assert rule.holds(1500) and rule.holds(12000) and rule.holds(3000)
    assert not rule.holds(1499) and not rule.holds(12001)
    assert not rule.holds("1500")  # a string is never in a numeric range


def test_open_ended_range() -> None:
    assert Rule.parse("BATT_LOW_VOLT=10.5..").holds(11)
    assert not Rule.parse("BATT_LOW_VOLT=10.5..").holds(10)


def test_allowed_set() -> None:
    rule = Rule.parse("FS_THR_ENABLE=1|2")
    assert rule.holds(1) and rule.holds(2.0)
    assert not rule.holds(0)


def test_nan_never_holds() -> None:
    assert not Rule.parse("X=0..1").holds(float("nan"))


@pytest.mark.parametrize("spec", ["X=1", "X=1..2", "X=..5", "X=a|b|3", "X=text"])
def test_json_round_trip(spec: str) -> None:
    rule = Rule.parse(spec)
    assert Rule.from_json(rule.name, rule.to_json()) == rule
    assert Rule.parse(f"{rule.name}={rule.describe()}") == rule


@pytest.mark.parametrize("spec", ["X", "=1", "X=", "X=..", "X=nan", "X=1..b"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        Rule.parse(spec)


@pytest.mark.parametrize("data", [{}, [], {"equals": None}, {"min": "a"}, {"allowed": []}, {"foo": 1}])
def test_bad_stored_rules(data: object) -> None:
    with pytest.raises(BaselineError):
        Rule.from_json("X", data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=8,
    )
)
def test_stored_rule_parser_raises_only_attest_errors(data: object) -> None:
    try:
        Rule.from_json("X", data)
    except AttestError:
        pass
