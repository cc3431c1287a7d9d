"""Strict JSON for everything read from outside (attest.jsonutil)."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.jsonutil import MAX_DEPTH, MAX_SAFE_INTEGER, JSONFormatError, is_canonical, loads, loads_canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    # Larger whole floats serialise as integer digits beyond the exact range, refused on reading.
    | st.floats(min_value=-1e15, max_value=1e15)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"x": {"k": true, "k": false}}', "duplicate key 'k'"),
        (b"[NaN]", "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b"[-Infinity]", "-Infinity is not JSON"),
        (b"[1e999]", "not finite"),
        (b"1" + b"0" * 5000, "outside the exact range"),
        (str(MAX_SAFE_INTEGER + 1).encode(), "outside the exact range"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b"[" * 100_000, "nested deeper"),
        (b"\xff{}", "not UTF-8"),
        (b'{"a": 1', "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_refused(data: bytes, why: str) -> None:
    with pytest.raises(JSONFormatError, match=why):
        loads(data)


def test_limits_are_inclusive() -> None:
    assert loads(str(MAX_SAFE_INTEGER).encode()) == MAX_SAFE_INTEGER
    assert loads(str(-MAX_SAFE_INTEGER).encode()) == -MAX_SAFE_INTEGER
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads(deep) is not None
    # Brackets inside strings do not count as nesting.
    assert loads(json.dumps({"a": "[" * 1000 + '\\"{'}).encode()) == {"a": "[" * 1000 + '\\"{'}


def test_non_canonical_payload_refused() -> None:
    assert loads_canonical(b'{"a":1,"b":[true,null]}') == {"a": 1, "b": [True, None]}
    for bad in (b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1}\n', b'{"a":1.0}', b'{"a":"\\u0041"}'):
        with pytest.raises(JSONFormatError, match="canonical"):
            loads_canonical(bad)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_bytes_round_trip(value: object) -> None:
    data = rfc8785.dumps(value)
    assert loads_canonical(data) == value
    assert is_canonical(data, value)
    pretty = json.dumps(value, indent=1).encode()
    if pretty != data:
        assert loads(pretty) == value
        assert not is_canonical(pretty, value)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        # Sorted, no spaces: canonical in form, yet the fast path's plain parse would keep one value.
        (b'{"a":1,"a":2}', "duplicate key 'a'"),
        (b'{"a":{"k":false,"k":true}}', "duplicate key 'k'"),
        (b'{"a":' + str(MAX_SAFE_INTEGER + 1).encode() + b"}", "outside the exact range"),
        (b'{"a":-' + str(MAX_SAFE_INTEGER + 1).encode() + b"}", "outside the exact range"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b"[" * 5_000 + b"]" * 5_000, "nested deeper"),
        (b'{"a":NaN}', "NaN is not JSON"),
        (b"\xff", "not UTF-8"),
    ],
)
def test_canonical_refusals_name_the_problem(data: bytes, why: str) -> None:
    # loads_canonical takes a fast path for canonical payloads; whatever it refuses
    # is refused with the same reason the full checks give.
    with pytest.raises(JSONFormatError, match=why):
        loads_canonical(data)


def test_canonical_depth_limit_is_inclusive() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads_canonical(deep) is not None
    mixed = b'{"a":' * (MAX_DEPTH - 1) + b"[]" + b"}" * (MAX_DEPTH - 1)
    assert loads_canonical(mixed) is not None
    with pytest.raises(JSONFormatError, match="nested deeper"):
        loads_canonical(b'{"a":' * MAX_DEPTH + b"[]" + b"}" * MAX_DEPTH)


def test_canonical_keys_beyond_the_bmp_sort_by_utf16() -> None:
    # U+1F600 sorts before U+FF5E in UTF-16 (surrogates D83D..) but after it by code point:
    # json.dumps(sort_keys=True) would disagree with RFC 8785, so such payloads take rfc8785.
    value = {"\U0001f600": 1, "\uff5e": 2}
    data = rfc8785.dumps(value)
    assert loads_canonical(data) == value
    by_code_point = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert by_code_point != data
    with pytest.raises(JSONFormatError, match="canonical"):
        loads_canonical(by_code_point)
