"""Shrink a finding's input while it still fails the same way (same :func:`~tests.fuzz.core.finding_key`)."""

from __future__ import annotations

from .core import Target, check, finding_key

__all__ = ["failure", "minimize"]


def failure(target: Target, data: bytes) -> str | None:
    """The finding key of ``data`` on ``target``, or ``None`` when it is accepted or rejected as documented."""
    try:
        check(target, data)
    except Exception as e:  # noqa: BLE001 (anything undocumented is the finding being shrunk)
        return finding_key(e)
    return None


def minimize(target: Target, data: bytes, *, budget: int = 4000) -> bytes:
    """A shorter input with the same finding key as ``data`` (delta debugging: drop chunks, halving their size).

    Args:
        target: the target that fails on ``data``.
        data: the failing input.
        budget: the most inputs tried.

    Raises:
        ValueError: ``data`` does not fail (misuse).
    """
    key = failure(target, data)
    if key is None:
        raise ValueError("the input does not fail: nothing to minimize")
    tries = 0
    size = max(1, len(data) // 2)
    while size >= 1 and tries < budget:
        pos = 0
        while pos < len(data) and tries < budget:
            candidate = data[:pos] + data[pos + size :]
            tries += 1
            if failure(target, candidate) == key:
                data = candidate
            else:
                pos += size
        size //= 2
    return data
