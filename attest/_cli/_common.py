"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import math
import os
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from attest.errors import ConfigError
from attest.targets import TargetOptions

#: where the dock service (root, or the attest system user) keeps its rollback state and log
SYSTEM_STATE_DIR = Path("/var/lib/attest")


def default_state_dir() -> Path:
    """/var/lib/attest for root and system users; else $XDG_STATE_HOME/attest (~/.local/state/attest).

    A person trying attest on a bench needs no root: their rollback floors and
    log live in their own state directory.
    """
    if os.geteuid() == 0 or os.environ.get("INVOCATION_ID"):  # root, or a systemd service
        return SYSTEM_STATE_DIR
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "attest"


__all__ = [
    "SECONDS",
    "add_state_dir",
    "add_target_options",
    "count",
    "new_nonce",
    "number",
    "positive_int",
    "probability",
    "require_readable",
    "state_dir",
    "target_options",
]


def positive_int(text: str) -> int:
    """Argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return n


def number(low: float, high: float = math.inf, *, what: str, low_included: bool = True) -> Callable[[str], float]:
    """Argparse type: a finite number from ``low`` (``low_included``: or above it) to ``high``.

    ``what`` completes the refusal: ``'3x' must be <what>``.
    """

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(x) and (low <= x if low_included else low < x) and x <= high):
            raise argparse.ArgumentTypeError(f"{text!r} must be {what}")
        return x

    return parse


#: Argparse type: a fault rate of a simulator.
probability = number(0, 1, what="a probability between 0 and 1")
#: Argparse type: a simulator's delay, 0 to an hour.
SECONDS = number(0, 3600, what="between 0 and 3600 seconds")


def count(text: str) -> int:
    """Argparse type: a count, 0 or more, in decimal digits only."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count")
    return int(text)


def positive_float(text: str) -> float:
    """Argparse type: a number > 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return x


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The ``--device`` transport options."""
    g = parser.add_argument_group("device transport")
    g.add_argument("--baud", type=positive_int, default=115200, help="serial line rate (default 115200)")
    g.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds any one wait on the device may last (default 10)"
    )
    g.add_argument("--identity", type=Path, metavar="KEYFILE", help="SSH private key (default: the ssh-agent)")
    g.add_argument("--known-hosts", type=Path, metavar="FILE", help="known_hosts file with the pinned SSH host key")
    g.add_argument(
        "--method",
        choices=["pull", "remote"],
        default="pull",
        help="SSH and ADB: pull = the dock reads and hashes every file over SFTP (the device's own hash must "
        "agree on each) or every APK over ADB sync (default); remote = the device hashes, the dock audits a sample",
    )
    g.add_argument(
        "--audit-sample",
        type=positive_int,
        metavar="N",
        help="remote mode: files (SSH) or APKs (ADB) the dock re-reads to check the device's sha256sum; "
        "default max(8, 2%%)",
    )
    g.add_argument(
        "--bootloader", action="store_true", help="flight controller: read flash through its bootloader (reboots it)"
    )
    g.add_argument("--workers", type=positive_int, help="hashing threads for directory targets (default: all cores)")


def target_options(args: argparse.Namespace) -> TargetOptions:
    """TargetOptions from parsed ``add_target_options`` arguments."""
    return TargetOptions(
        baud=args.baud,
        timeout=args.timeout,
        identity=args.identity,
        known_hosts=args.known_hosts,
        method=args.method,
        bootloader=args.bootloader,
        audit_sample=args.audit_sample,
        workers=args.workers,
        state_dir=state_dir(args),  # the dock's ADB key (adbkey) lives there
    )


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    """``--state-dir``."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="dock state (rollback versions, log); default $ATTEST_STATE_DIR, else "
        f"{SYSTEM_STATE_DIR} for root and services, else $XDG_STATE_HOME/attest (~/.local/state/attest)",
    )


def state_dir(args: argparse.Namespace) -> Path:
    """``--state-dir``, else ``$ATTEST_STATE_DIR``, else the default."""
    if getattr(args, "state_dir", None) is not None:  # `baseline create` has no --state-dir
        return Path(args.state_dir)
    env = os.environ.get("ATTEST_STATE_DIR")
    return Path(env) if env else default_state_dir()


def new_nonce() -> str:
    """A fresh 256-bit nonce, hex."""
    return secrets.token_hex(32)


def require_readable(path: Path, what: str) -> None:
    """Refuse, as a usage error, a path given on the command line that cannot be read.

    A baseline, ticket or key path that does not exist, is a directory or is
    not readable (permission) is the caller's mistake, found before anything
    else is done (nothing measured, logged or created): exit 2 with one line
    naming the path. A file that can be read but holds something bad keeps
    its own error (e.g. a malformed baseline is exit 4).

    The file is opened without blocking (a FIFO with no writer does not hang
    here) and closed at once; the command then reads it as usual.

    Raises:
        ConfigError: ``path`` cannot be opened for reading, or is a directory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from e
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: cannot read {what}: it is a directory")
    finally:
        os.close(fd)


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    print(f"attest: warning: {message}", file=sys.stderr)
