"""A short fuzz run for ``make test``: every parser of outside input on its seeds, kept regressions and mutations.

The long coverage-guided run is ``make fuzz`` (docs/fuzzing.md); this one
uses the same targets (:mod:`fuzz.registry`) with a fixed-seed mutator, so a
failure here reproduces exactly. Each input must be accepted or rejected with
the parser's documented exception (an AttestError with a documented exit code).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
from fuzz.core import Finding, Target, attempt, check, finding_key
from fuzz.minimize import minimize
from fuzz.mutate import mutations
from fuzz.registry import TARGETS, regressions

from attest.errors import AttestError, ConfigError, LogError

#: Mutated inputs per target (the whole smoke run stays well under half a minute on 2 cores).
MUTATIONS = 500
#: An input still running after this long is a hang (a guard, not a speed check: inputs take milliseconds).
HANG_SECONDS = 60


class Hang(Exception):  # noqa: N818 (what the guard reports)
    """An input ran past :data:`HANG_SECONDS`."""


@contextlib.contextmanager
def hang_guard(what: str) -> Iterator[None]:
    def alarm(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise Hang(f"{what}: still running after {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_SEEDS: dict[str, list[bytes]] = {}


def seeds(target: Target) -> list[bytes]:
    if target.name not in _SEEDS:
        _SEEDS[target.name] = target.seeds()
    return _SEEDS[target.name]


def _name_seed(name: str) -> int:
    return sum((i + 1) * b for i, b in enumerate(name.encode()))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_reach_the_parser_and_at_least_one_is_accepted(name: str) -> None:
    """Seeds are real inputs: none is a finding, and one at least passes the whole parser.

    (A target whose seeds are all rejected would start fuzzing blind.)
    """
    target = TARGETS[name]
    outcomes = []
    for i, data in enumerate(seeds(target)):
        assert len(data) > 0
        with hang_guard(f"{name} seed {i}"):
            outcomes.append(check(target, data))
    assert any(o is None for o in outcomes) or name == "note", outcomes


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutations_raise_only_documented_errors(name: str) -> None:
    """A few hundred mutations of the seeds: each accepted, or rejected with a documented error and exit code."""
    target = TARGETS[name]
    for i, data in enumerate(mutations(seeds(target), MUTATIONS, seed=_name_seed(name), max_len=target.max_len)):
        with hang_guard(f"{name} mutation {i} ({data[:64].hex()}...)"):
            try:
                check(target, data)
            except Exception as e:  # noqa: BLE001 (any undocumented exception is the failure reported)
                pytest.fail(f"{name}: mutation {i} ({len(data)} bytes): {finding_key(e)}: {e!r}\ninput: {data.hex()}")


_KEPT = [(name, file) for name in sorted(TARGETS) for file, _ in regressions(name)]


@pytest.mark.parametrize(("name", "file"), _KEPT or [pytest.param("-", "-", marks=pytest.mark.skip("none kept"))])
def test_kept_regressions_raise_only_documented_errors(name: str, file: str) -> None:
    """Every input that once was a finding (regressions/NAME/FILE) is now accepted or rejected as documented."""
    data = dict(regressions(name))[file]
    with hang_guard(f"{name}/{file}"):
        check(TARGETS[name], data)


# -- the harness itself: it must be able to fail ----------------------------------------------


def _target(run: object, allowed: tuple[type[BaseException], ...] = (ConfigError,)) -> Target:
    return Target("probe", "a probe", run, allowed, lambda: [b"x"])  # type: ignore[arg-type]


def test_an_undocumented_exception_is_a_finding() -> None:
    def parse(data: bytes) -> None:
        raise KeyError(data)

    with pytest.raises(KeyError):
        check(_target(parse), b"x")


def test_a_documented_type_with_an_undocumented_exit_code_is_a_finding() -> None:
    class OddError(ConfigError):
        exit_code = 0

    def parse(data: bytes) -> None:
        raise OddError("passes?")

    with pytest.raises(Finding):
        check(_target(parse), b"x")
    with pytest.raises(Finding):
        attempt((AttestError,), parse, b"x")


def test_a_documented_rejection_is_returned() -> None:
    def parse(data: bytes) -> None:
        raise LogError("bad")

    assert isinstance(check(_target(parse, (LogError,)), b"x"), LogError)
    assert check(_target(lambda _data: None), b"x") is None


def test_finding_key_names_the_innermost_attest_frame() -> None:
    from attest.timeutil import parse_time

    def parse(data: bytes) -> None:
        parse_time(data.decode())

    with pytest.raises(ValueError, match="Invalid isoformat") as info:
        check(_target(parse), b"not a time")
    assert finding_key(info.value).startswith("ValueError at timeutil.py:")


def test_minimize_keeps_the_failure_and_drops_the_rest() -> None:
    def parse(data: bytes) -> None:
        if b"BUG" in data:
            raise IndexError("found it")

    assert minimize(_target(parse), b"0123456789BUG0123456789" * 3) == b"BUG"


def test_mutations_are_deterministic_and_bounded() -> None:
    a = list(mutations([b"hello world", b"{}"], 50, seed=7, max_len=16))
    assert a == list(mutations([b"hello world", b"{}"], 50, seed=7, max_len=16))
    assert all(len(x) <= 16 for x in a)
    assert len(set(a)) > 25
