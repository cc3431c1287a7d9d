"""The ``attest`` command line.

Each module of this package that does not start with ``_`` adds one command
(or command group) through ``register(subparsers)``; this module builds the
parser, sets the log level (:mod:`attest.logs`), runs the command and maps every
:class:`~attest.errors.AttestError` to its exit code with a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import attest
from attest.errors import AttestError
from attest.logs import set_level

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``attest`` parser."""
    parser = argparse.ArgumentParser(
        prog="attest",
        description="Prove that a drone runs exactly the firmware, settings and apps its fleet approved.",
        epilog="Exit codes of verify: 0 pass, 1 drift, 2 usage/configuration, 3 could not attest, "
        "4 baseline not trusted.",
    )
    parser.add_argument("--version", action="version", version=f"drone-attest {attest.__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="structured log level"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``attest``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    set_level(args.log_level)
    try:
        code: int = args.func(args)
    except AttestError as e:
        print(f"attest: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("attest: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`attest log show | head`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code
