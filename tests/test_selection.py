"""Include/exclude globs: what is measured, recorded in the baseline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attest.errors import BaselineError, ConfigError
from attest.selection import Selection, glob_to_regex


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.lua", "a.lua", True),
        ("*.lua", "dir/a.lua", False),  # '*' never crosses '/'
        ("**/*.lua", "dir/sub/a.lua", True),
        ("**/*.lua", "a.lua", True),  # '**/' may match zero segments
        ("usr/**", "usr/bin/px4", True),
        ("usr/**", "usr", False),
        ("usr/**", "usrlocal/x", False),
        ("etc/?ostname", "etc/hostname", True),
        ("etc/[hH]ost*", "etc/Hosts", True),
        ("etc/[!h]ost*", "etc/host", False),
        ("a/b", "a/b", True),
        ("a.b", "axb", False),  # '.' is literal
    ],
)
def test_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert (glob_to_regex(pattern).fullmatch(path) is not None) is matches


@pytest.mark.parametrize("bad", ["", "/abs", "a**", "**b/c", "x[ab"])
def test_bad_globs_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        glob_to_regex(bad)


def test_exclude_wins_over_include() -> None:
    sel = Selection(include=("**",), exclude=("proc/**", "**/*.log"))
    assert sel.selects("usr/bin/px4")
    assert not sel.selects("proc/1/status")
    assert not sel.selects("var/log/x.log")
    assert sel.selects("proc")  # the directory itself is still measured


def test_prune_only_when_everything_below_is_excluded() -> None:
    sel = Selection(exclude=("proc/**", "tmp/*"))
    assert sel.prunes("proc")
    # 'tmp/*' excludes direct children only: tmp/a/b may still be selected.
    assert not sel.prunes("tmp")
    assert sel.selects("tmp/a/b")


def test_round_trip_through_json() -> None:
    sel = Selection(include=("usr/**", "etc/**"), exclude=("etc/machine-id",))
    assert Selection.from_json(sel.to_json()) == sel


@pytest.mark.parametrize(
    "data",
    [None, [], {"include": "**"}, {"include": [1]}, {"include": []}, {"include": ["**"], "exclude": [None]}],
)
def test_bad_stored_selection_is_baseline_error(data: object) -> None:
    with pytest.raises(BaselineError):
        Selection.from_json(data)


@given(st.text(max_size=30))
def test_glob_compiler_never_raises_anything_but_config_error(pattern: str) -> None:
    try:
        glob_to_regex(pattern)
    except ConfigError:
        pass
