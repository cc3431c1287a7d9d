"""``attest sim dji``: a simulated DJI aircraft speaking DUML v1 on a new pty.

:func:`register_dji` adds the ``dji`` kind to ``attest sim``'s sub-parsers
(called from :mod:`attest._cli.sim`). The module is private (``_``-prefixed)
because every public module of this package is a command group the CLI
discovers and registers on its own. ``python -m attest._cli._sim_dji ARGS``
runs the same command standalone.
"""

from __future__ import annotations

import argparse

from attest._cli._common import SECONDS, count, probability
from attest.errors import ConfigError

__all__ = ["register_dji"]


def register_dji(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim dji``."""
    d = ssub.add_parser(
        "dji",
        help="run a simulated DJI aircraft speaking DUML on a new pty",
        description="Open a new pseudo-terminal, print its path (/dev/pts/N) alone on the first line of stdout, "
        "and serve DUML v1 on it until killed: flight-controller-0, gimbal-0, camera-0, esc-0..3, battery-0, "
        "radio-air-0 and vision-stereo-0 answer the version inquiry (general command set 0x00, id 0x01); the "
        "flight controller pushes telemetry to the app. Attest it as dji:///dev/pts/N.",
    )
    d.add_argument(
        "--module-version",
        action="append",
        default=[],
        metavar="MODULE=VERSION",
        help="change what MODULE (e.g. camera-0, esc-2) reports as its firmware version (AA.BB.CC.DD)",
    )
    d.add_argument(
        "--add-module", action="append", default=[], metavar="MODULE=VERSION", help="add a module the aircraft lacks"
    )
    d.add_argument("--model", default="SIMAIR FC", help="the flight controller's hardware text (the device's model)")
    g = d.add_argument_group("misbehaviour (tests: each must end in a clear error or a correct verdict)")
    g.add_argument("--garbage", type=probability, default=0.0, metavar="P", help="random bytes before a frame")
    g.add_argument("--corrupt", type=probability, default=0.0, metavar="P", help="flip a bit in frames (bad CRCs)")
    g.add_argument("--drop", type=probability, default=0.0, metavar="P", help="drop frames")
    g.add_argument("--truncate", type=probability, default=0.0, metavar="P", help="cut frames short")
    g.add_argument("--silent", action="append", default=[], metavar="MODULE", help="MODULE never answers")
    g.add_argument(
        "--answer-for",
        action="append",
        default=[],
        metavar="MODULE=OTHER",
        help="MODULE also answers version inquiries addressed to OTHER, with its own address and version",
    )
    g.add_argument(
        "--inconsistent",
        action="append",
        default=[],
        metavar="MODULE",
        help="MODULE answers every inquiry twice, with two different versions",
    )
    g.add_argument("--chatter", action="store_true", help="flood the line with pushes and version replies to the app")
    g.add_argument(
        "--answer-everything", action="store_true", help="every module address answers (a bus of 232 modules)"
    )
    g.add_argument("--drip", type=SECONDS, default=0.0, metavar="SECONDS", help="one answer per SECONDS")
    g.add_argument("--stall-after", type=count, metavar="N", help="go silent after N frames")
    g.add_argument("--seed", type=int, default=1, help="seed of the fault generator")
    d.set_defaults(func=_dji)


def _dji(args: argparse.Namespace) -> int:
    from attest.duml import Address, parse_module, parse_version
    from attest.sim import DjiFaults, DjiSimConfig, SimModule, default_modules, run_dji

    try:
        if len(args.model.encode("ascii")) > 16:
            raise ValueError("--model: at most 16 ASCII characters")
        modules = default_modules(args.model)
        for opt, specs in (("--module-version", args.module_version), ("--add-module", args.add_module)):
            for spec in specs:
                name, sep, version = spec.partition("=")
                if not sep:
                    raise ValueError(f"{opt} {spec!r}: expected MODULE=VERSION")
                addr, word = parse_module(name), parse_version(version)
                old = modules.get(addr)
                if opt == "--module-version":
                    if old is None:
                        raise ValueError(f"{opt} {spec!r}: the aircraft has no {name} (use --add-module)")
                    modules[addr] = SimModule(old.hardware, old.loader, word, old.tail)
                else:
                    modules[addr] = SimModule(f"SIMAIR {addr.type}", 0x01000000, word)
        answer_for: dict[Address, Address] = {}
        for spec in args.answer_for:
            who, sep, other = spec.partition("=")
            if not sep:
                raise ValueError(f"--answer-for {spec!r}: expected MODULE=OTHER")
            answer_for[parse_module(other)] = parse_module(who)
        faults = DjiFaults(
            garbage=args.garbage,
            corrupt=args.corrupt,
            drop=args.drop,
            truncate=args.truncate,
            silent=frozenset(parse_module(m) for m in args.silent),
            answer_for=answer_for,
            inconsistent=frozenset(parse_module(m) for m in args.inconsistent),
            chatter=args.chatter,
            answer_everything=args.answer_everything,
            drip=args.drip,
            stall_after=args.stall_after,
            seed=args.seed,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from e
    try:
        run_dji(DjiSimConfig(modules=modules, faults=faults))
    except OSError as e:  # no pty available, found before the path is printed
        raise ConfigError(str(e)) from e
    return 0
