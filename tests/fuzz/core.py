"""What a fuzz target is, and what counts as a finding.

A target is a function of bytes that feeds them to one parser through the
package's public API, and the exception types that parser documents. Running
it on an input has three outcomes:

* it returns: the input was accepted;
* it raises one of the documented types: a rejection. An
  :class:`~attest.errors.AttestError` must also carry a documented exit code
  (1 drift/log, 2 usage or config, 3 could not attest, 4 not trusted), since
  that is what ``attest`` exits with;
* anything else -- another exception, a documented one with an undocumented
  exit code, or (under the runner) a run longer than the per-input bound --
  is a *finding*.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from attest.errors import AttestError

__all__ = ["EXIT_CODES", "Finding", "Target", "attempt", "check", "finding_key"]

#: The exit codes a rejection may map to (README: 1 drift or bad log, 2 usage/config,
#: 3 could not attest, 4 baseline not trusted). 0 is a pass and 130 an interrupt: never a rejection.
EXIT_CODES = frozenset({1, 2, 3, 4})

T = TypeVar("T")


class Finding(Exception):  # noqa: N818 (a finding is what the fuzzer reports, not an error in the harness)
    """A documented exception type carrying an undocumented exit code."""


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing.

    Attributes:
        name: the target's name (``--only NAME``, ``tests/fuzz/regressions/NAME/``).
        parser: what is fuzzed, in words (for the summary and docs).
        run: feeds one input to the parser; returns on acceptance, raises on rejection.
        allowed: the exception types the parser documents for bad input.
        seeds: real inputs made with attest's own code (or its simulators); called once.
        max_len: the longest input the fuzzer generates.
    """

    name: str
    parser: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    max_len: int = 64 * 1024


def _check_exit_code(exc: BaseException) -> None:
    if isinstance(exc, AttestError) and exc.exit_code not in EXIT_CODES:
        raise Finding(f"{type(exc).__name__} with exit code {exc.exit_code}: {exc}") from exc


def attempt(allowed: tuple[type[BaseException], ...], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``fn``; a documented rejection returns ``None``, anything else propagates.

    For targets that run several steps on one input (as the collector would),
    so that a rejection in one step does not hide the next.
    """
    try:
        return fn(*args, **kwargs)
    except allowed as e:
        _check_exit_code(e)
        return None


def check(target: Target, data: bytes) -> BaseException | None:
    """Run ``target`` on ``data``.

    Returns:
        ``None`` when the input was accepted, else the documented rejection.

    Raises:
        Finding: a documented type with an undocumented exit code.
        BaseException: whatever undocumented exception the parser raised (a finding).
    """
    try:
        target.run(data)
    except target.allowed as e:
        _check_exit_code(e)
        return e
    return None


def finding_key(exc: BaseException) -> str:
    """A short signature of a finding: its type and the innermost frame in attest (else the innermost frame).

    Two inputs with the same key are taken as the same bug.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    cause = exc.__cause__
    if isinstance(exc, Finding) and cause is not None:
        frames = traceback.extract_tb(cause.__traceback__)
        exc = cause
    ours = [f for f in frames if f"{os.sep}attest{os.sep}" in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return f"{type(exc).__name__} at ?"
    path = frame.filename.rpartition(f"{os.sep}attest{os.sep}")[2] or frame.filename
    return f"{type(exc).__name__} at {path}:{frame.lineno}"
