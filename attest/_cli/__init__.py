"""The ``attest`` command line.

Each module of this package that does not start with ``_`` adds one command
(or command group) of its own name through ``register(subparsers)``; this module builds the
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
from typing import NoReturn

import attest
from attest.errors import AttestError
from attest.logs import set_level

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``attest: error: ...`` and where to look, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"attest: error: {message} (try '{self.prog} --help')\n")


#: -q / -v / --log-level, on the top parser and after every command: `attest verify -v ...`
_LEVELS = ("debug", "info", "warning", "error")


def _add_log_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Below the top, defaults are SUPPRESS so that a command's parser never
    # overwrites what was given before the command name.
    default: object = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("log output")
    g.add_argument(
        "--log-level",
        choices=_LEVELS,
        default=default,
        help="structured log level on stderr (default: warning; info under systemd)",
    )
    g.add_argument("-v", "--verbose", action="count", default=default, help="more log output (-vv: debug)")
    g.add_argument("-q", "--quiet", action="store_true", default=default, help="errors only")


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    return [leaf for action in subs for child in action.choices.values() for leaf in _leaf_parsers(child)]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``attest`` parser: every command, or only ``argv[0]``'s when it names one.

    Importing every command's module costs ~30 ms of start-up that ``attest
    verify`` would pay on every run; a command line that starts with a command
    name gets a parser holding that command alone (its parse and its messages
    are the same), anything else (``--help``, no command, a misspelt one) the full one.
    """
    parser = _Parser(
        prog="attest",
        description="Prove that a drone runs exactly the firmware, settings and apps its fleet approved.",
        epilog="Exit codes: 0 pass, 1 drift, 2 usage/configuration, 3 could not attest, "
        "4 baseline not trusted, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"drone-attest {attest.__version__}")
    _add_log_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    if argv and argv[0] in names:
        names = [argv[0]]  # each command module registers the command of its own name
    for name in names:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for leaf in _leaf_parsers(parser):
        if leaf is not parser:
            _add_log_options(leaf, top=False)
    return parser


def _log_level(args: argparse.Namespace) -> str:
    """-q, then --log-level, then -v; by default warning, or info under systemd (a service's journal)."""
    if args.quiet:
        return "error"
    if args.log_level:
        return str(args.log_level)
    if args.verbose:
        return "debug" if args.verbose > 1 else "info"
    return "info" if os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM") else "warning"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``attest``; returns the exit code."""
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    set_level(_log_level(args))
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
