"""Every fuzz target by name, and the regression inputs kept for each in ``tests/fuzz/regressions/NAME/``."""

from __future__ import annotations

from pathlib import Path

from . import targets_apk, targets_duml, targets_firmware, targets_log, targets_mavlink, targets_ssh, targets_trust
from .core import Target

__all__ = ["REGRESSIONS", "TARGETS", "regressions"]

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        *targets_trust.TARGETS,
        *targets_mavlink.TARGETS,
        *targets_firmware.TARGETS,
        *targets_ssh.TARGETS,
        *targets_log.TARGETS,
        *targets_apk.TARGETS,
        *targets_duml.TARGETS,
    )
}

#: One directory per target; each file is one input that once was a finding (named by what it found).
REGRESSIONS = Path(__file__).resolve().parent / "regressions"


def regressions(name: str) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of every regression input kept for target ``name``."""
    d = REGRESSIONS / name
    if not d.is_dir():
        return []
    return [(p.name, p.read_bytes()) for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")]
