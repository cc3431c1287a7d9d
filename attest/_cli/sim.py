"""``attest sim``: simulated drones for demos, tests and trying things out."""

from __future__ import annotations

import argparse
from pathlib import Path

from attest.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim``."""
    p = sub.add_parser("sim", help="simulated drones (demo and tests)")
    ssub = p.add_subparsers(dest="sim_command", metavar="KIND", required=True)
    t = ssub.add_parser(
        "tree",
        help="write a simulated companion-computer filesystem",
        description="Write the same small Linux-like tree every time, for the demo baseline.",
    )
    t.add_argument("--out", required=True, type=Path, metavar="DIR", help="an empty or new directory")
    t.set_defaults(func=_tree)


def _tree(args: argparse.Namespace) -> int:
    from attest.sim.tree import make_tree

    try:
        make_tree(args.out)
    except OSError as e:
        raise ConfigError(f"{args.out}: cannot write simulated tree: {e}") from e
    print(args.out)
    return 0
