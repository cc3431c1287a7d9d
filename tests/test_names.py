"""Names for paths that need not be UTF-8: injective, reversible."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attest.names import decode_name, encode_name


@given(st.binary(max_size=64))
def test_round_trip(raw: bytes) -> None:
    assert decode_name(encode_name(raw)) == raw


@given(st.binary(max_size=32), st.binary(max_size=32))
def test_injective(a: bytes, b: bytes) -> None:
    if a != b:
        assert encode_name(a) != encode_name(b)


def test_utf8_names_are_unchanged() -> None:
    assert encode_name("café/ünï $(x) -rf\n".encode()) == "café/ünï $(x) -rf\n"


def test_invalid_bytes_and_backslashes_are_escaped() -> None:
    assert encode_name(b"a\xffb\\c") == "a\\xffb\\\\c"


def test_encoded_names_have_no_surrogates() -> None:
    # Lone surrogates cannot be canonicalised by RFC 8785.
    name = encode_name(b"\xed\xa0\x80")  # UTF-8 of a lone surrogate is invalid UTF-8
    assert name == "\\xed\\xa0\\x80"


@pytest.mark.parametrize("bad", ["a\\", "a\\q", "\\x1"])
def test_bad_escapes_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="bad escape"):
        decode_name(bad)
