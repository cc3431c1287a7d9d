"""``attest config check``: is the dock's configuration complete and usable? Every problem at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` (default ``$ATTEST_CONFIG``, else /etc/attest/attest.toml)."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the dock's configuration (default: $ATTEST_CONFIG, else /etc/attest/attest.toml)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config``."""
    p = sub.add_parser(
        "config",
        help="check the dock's configuration",
        description="The dock's configuration file (docs/dock.md).",
    )
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser(
        "check",
        help="list every problem, or print a summary",
        description="Check every key of the configuration and every file it names (the dock key, the trust "
        "policy, each drone's baselines, hook programs, the state directory and log). Exit 0 with a summary, "
        "or 2 listing every problem at once.",
    )
    add_config_option(c)
    c.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from attest.dock import check_files, config_path, format_duration, load_config
    from attest.errors import ConfigError

    path = config_path(args.config)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        for line in str(e).splitlines():
            print(f"attest: error: {line}", file=sys.stderr)
        return 2
    ready = check_files(cfg)
    if ready.problems:
        for line in ready.problems:
            print(f"attest: error: {line}", file=sys.stderr)
        return 2
    budget = cfg.measuring_budget()
    print(f"OK: {path}")
    print(f"  dock: origin {cfg.origin}, key {cfg.key} (id {ready.key_id}), log {cfg.log_dir}", end="")
    print(f" ({ready.log_size} entries)" if ready.log_size is not None else " (not created yet)")
    print(f"  trust: {cfg.trust} ({ready.threshold} keys); baselines in {cfg.baselines}")
    print(
        f"  max_seconds {cfg.max_seconds:g} (measuring {budget:.0f} s; hooks up to {cfg.hook_seconds():g} s): "
        f"TimeoutStartSec={cfg.max_seconds:g} in the attest-dock units"
    )
    print(
        f"  gate: fresh_for {format_duration(cfg.fresh_for)}, ticket_valid_for {format_duration(cfg.ticket_valid_for)}"
    )
    for h in cfg.hooks:
        print(f"  hook on {'/'.join(h.on)}: {' '.join(h.run)} (timeout {format_duration(h.timeout)})")
    print(f"  drones: {len(cfg.drones)}")
    for d in cfg.drones:
        parts = ", ".join(f"{p.kind} ({p.describe()}, {ready.baselines.get((d.name, p.kind), '?')})" for p in d.parts)
        print(f"    {d.name}: {parts}")
    return 0
