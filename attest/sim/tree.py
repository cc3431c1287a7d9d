"""A simulated companion-computer filesystem, the same bytes every time.

``make_tree(dest)`` writes a small Linux-like tree (binaries, libraries,
configuration, a flight-app, a symlink, a FIFO) with explicit modes, so the
example baseline in ``baselines/`` matches it on any machine. Content is
generated from a fixed seed: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["make_tree"]

#: (relative path, size in bytes, mode)
_FILES = (
    ("usr/bin/px4", 2 * 1024 * 1024 + 17, 0o755),
    ("usr/bin/voxl-camera-server", 700 * 1024, 0o755),
    ("usr/bin/mavlink-router", 300 * 1024 + 5, 0o755),
    ("usr/lib/libmodal_pipe.so.2.8.3", 512 * 1024, 0o644),
    ("usr/lib/libcrypto.so.3", 1024 * 1024 + 333, 0o644),
    ("opt/flightapp/app.py", 12_345, 0o644),
    ("opt/flightapp/uploader.py", 4_321, 0o644),
    ("etc/mavlink-router/main.conf", 600, 0o644),
    ("etc/ssh/sshd_config", 3_200, 0o644),
    ("etc/hostname", 0, 0o644),
    ("boot/Image", 3 * 1024 * 1024, 0o644),
    ("data/missions/README", 200, 0o640),
)
_LINKS = (("usr/lib/libmodal_pipe.so", "libmodal_pipe.so.2.8.3"), ("etc/localtime", "/usr/share/zoneinfo/UTC"))
_DIRS = (("data/logs", 0o750),)


def _content(name: str, size: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(name.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def make_tree(dest: Path) -> None:
    """Write the simulated tree into ``dest`` (created if missing; must be empty)."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest}: not empty")
    for rel, mode in _DIRS:
        (dest / rel).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / rel, mode)
    for rel, size, mode in _FILES:
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_content(rel, size))
        os.chmod(path, mode)
    for rel, target in _LINKS:
        os.symlink(target, dest / rel)
    os.mkfifo(dest / "data/logs/events.fifo", 0o600)
    os.chmod(dest / "data/logs/events.fifo", 0o600)
    for d in sorted({p.parent for p in dest.rglob("*")} - {dest} - {dest / r for r, _ in _DIRS}):
        os.chmod(d, 0o755)  # noqa: S103 (world-readable like a real rootfs)
