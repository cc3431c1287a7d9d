"""Rules on named values: exact, range, allowed set; forbidden values, absent, date ranges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attest.baseline import Baseline
from attest.errors import AttestError, BaselineError, ConfigError
from attest.model import Component, DeviceIdentity, Evidence, FindingKind
from attest.rules import Rule
from attest.trust import RollbackState, TrustPolicy, trust_baseline
from attest.verifier import verify


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


# -- forbidden values, absent, date ranges (Android controllers: docs/android.md "Writing rules") --------------


def test_forbidden_values_hold_for_anything_else() -> None:
    """``NAME!=A|B``: neither A nor B; numbers still compare with the float tolerance."""
    rule = Rule.parse("package/com.example.flight/permission/android.permission.RECORD_AUDIO!=granted")
    assert rule.forbidden == ("granted",)
    assert not rule.holds("granted")
    assert rule.holds("denied")
    assert rule.allows_absent  # a permission the app does not even ask for is not held
    numeric = Rule.parse("X!=1|2")
    assert not numeric.holds(1.0000000001) and not numeric.holds(2)
    assert numeric.holds(3)


def test_absent_rule_holds_for_no_present_value() -> None:
    """``NAME!=*``: any value at all breaks it, even one that looks empty."""
    rule = Rule.parse("package/com.example.bad!=*")
    assert rule.absent and rule.allows_absent
    for value in (0, "", "x", 4213, 1.5):
        assert not rule.holds(value)
    assert rule.describe() == "absent"


def test_only_the_negated_forms_allow_an_absent_value() -> None:
    for spec in ("X=1", "X=1..2", "X=a|b", "X=2024-01-01.."):
        assert not Rule.parse(spec).allows_absent


def test_date_range_compares_dates_not_numbers_or_text() -> None:
    """A minimum security patch level: only a real YYYY-MM-DD date can be in a date range."""
    rule = Rule.parse("android/security_patch=2024-03-01..")
    assert rule.holds("2024-03-01") and rule.holds("2024-03-05") and rule.holds("2025-01-01")
    assert not rule.holds("2024-02-29")
    for bad in ("2024-3-05", "2024-02-30", "9999", 20240305, "2024-03-05 ", "", "latest"):
        assert not rule.holds(bad), bad
    closed = Rule.parse("D=2024-01-01..2024-12-31")
    assert closed.holds("2024-06-30") and not closed.holds("2025-01-01")


@pytest.mark.parametrize(
    "spec",
    ["X!=granted", "X!=1|2", "X!=*", "X=2024-03-01..", "X=..2024-03-01", "X=2024-01-01..2024-12-31", "identity/x!=a"],
)
def test_new_forms_round_trip(spec: str) -> None:
    rule = Rule.parse(spec)
    assert Rule.from_json(rule.name, rule.to_json()) == rule


@pytest.mark.parametrize(
    "spec",
    ["X!=", "!=a", "X!=a|*", "X=2024-02-30..", "X=2024-01-01..5", "X=2024-12-31..2024-01-01", "identity/x!=*|a"],
)
def test_bad_new_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        Rule.parse(spec)


@pytest.mark.parametrize(
    "data",
    [
        {"absent": False},
        {"absent": 1},
        {"absent": True, "equals": 1},
        {"not": []},
        {"not": "granted"},
        {"min": "2024-13-01"},
        {"min": "2024-01-01", "max": 5},
        {"not": [True]},
    ],
)
def test_bad_stored_new_rules(data: object) -> None:
    with pytest.raises(BaselineError):
        Rule.from_json("X", data)


def test_verifier_judges_absent_values_by_the_rule_form(tmp_path: Path) -> None:
    """A forbidden or absent rule passes with no value; any other rule reports the value missing."""
    from attest.signing import Envelope, generate_key_files, load_private_key

    specs = ["perm!=granted", "bad.app!=*", "android/security_patch=2024-03-01..", "present!=*", "old!=4213"]
    base = Baseline(
        name="b",
        version=1,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        expires=None,
        device_kind="adb",
        device_match={},
        collection={},
        components={"f": Component("f", "file", "00" * 32)},
        rules={r.name: r for r in map(Rule.parse, specs)},
    )
    priv, pub = generate_key_files(tmp_path / "v.key")
    pol = tmp_path / "t.toml"
    pol.write_text(f'threshold = 1\n[[keys]]\nid = "v"\npublic_key = "{pub.name}"\n')
    env = Envelope(base.to_payload(), "application/vnd.in-toto+json").signed_by(load_private_key(priv))
    trusted = trust_baseline(env.to_bytes(), policy=TrustPolicy.from_file(pol), state=RollbackState(tmp_path / "st"))
    evidence = Evidence(
        device=DeviceIdentity("adb", "adb:X", "adb+tcp://h:1"),
        components={"f": Component("f", "file", "00" * 32)},
        nonce="n",
        collected_at=datetime(2026, 1, 1, tzinfo=UTC),
        values={"present": 4213, "old": 4213},
    )
    result = verify(evidence, trusted)
    got = {(f.component, f.kind, f.expected) for f in result.findings}
    assert got == {
        ("android/security_patch", FindingKind.MISSING, "2024-03-01.."),
        ("present", FindingKind.OUT_OF_RANGE, "absent"),
        ("old", FindingKind.OUT_OF_RANGE, "not 4213"),
    }
