"""``attest sim android``: a simulated Android controller on a loopback TCP port (the ADB wire protocol).

:func:`register_android` adds the ``android`` kind to ``attest sim``'s
sub-parsers (called from :mod:`attest._cli.sim`). The module is private
(``_``-prefixed) because every public module of this package is a command
group the CLI discovers and registers on its own. ``python -m
attest._cli._sim_android ARGS`` runs the same command standalone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attest._cli._common import SECONDS, count, number
from attest.errors import ConfigError

__all__ = ["register_android"]


def register_android(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim android``."""
    a = ssub.add_parser(
        "android",
        help="run a simulated Android controller speaking ADB over TCP",
        description="Listen on a loopback TCP port, print the target (adb+tcp://127.0.0.1:PORT) alone on the first "
        "line of stdout, and serve the ADB wire protocol until killed: CNXN, AUTH with RSA keys (every key is "
        "allowed unless --unauthorised), shell (getprop, pm, dumpsys package, cmd appops, sha256sum, cat) and sync "
        "(STAT, LIST, RECV of real APK files). The controller runs a flight app, com.example.flight.",
    )
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    a.add_argument("--port", type=count, default=0, help="TCP port (default: any free port)")
    a.add_argument("--serial", default="RCPRO0000001", help="ro.serialno")
    a.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="set or add a system property")
    a.add_argument(
        "--apk-dir",
        type=Path,
        metavar="DIR",
        help="serve DIR/PACKAGE.apk as PACKAGE's base APK (and DIR/PACKAGE.swapped.apk under --swap-cert)",
    )
    a.add_argument(
        "--swap-cert",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="serve PACKAGE's APK re-signed by another certificate (same version)",
    )
    a.add_argument(
        "--extra-package", action="append", default=[], metavar="NAME", help="install a user app the baseline lacks"
    )
    a.add_argument("--packages", type=count, default=0, metavar="N", help="add system apps until there are N")
    a.add_argument("--apk-size", type=count, default=0, metavar="BYTES", help="size of each user app's base APK")
    a.add_argument("--lie-sha256", action="store_true", help="the device's sha256sum reports the approved digests")
    a.add_argument("--adb-keys", type=Path, metavar="FILE", help="public keys allowed from the start (adb_keys format)")
    g = a.add_argument_group("misbehaviour (tests)")
    g.add_argument(
        "--unauthorised", action="store_true", help="never allow an unknown key (the prompt is not answered)"
    )
    g.add_argument("--drop-after", type=count, metavar="N", help="close each connection after sending N messages")
    g.add_argument("--stall-after", type=count, metavar="N", help="go silent after sending N messages")
    g.add_argument("--keepalive", action="store_true", help="while stalled, send empty writes on open streams")
    g.add_argument("--garbage-after", type=count, metavar="N", help="send bytes that are not ADB after N messages")
    g.add_argument("--drip", type=SECONDS, default=0.0, metavar="SECONDS", help="16 bytes per write, one per SECONDS")
    g.add_argument(
        "--rate",
        type=number(0, what="a positive number", low_included=False),
        metavar="BYTES_PER_S",
        help="throttle output (USB 2.0: about 35e6)",
    )
    g.add_argument("--no-shell-v2", action="store_true", help="an old adbd: shell v1 only (no exit status)")
    h = a.add_argument_group("hostile controller (tests: each must end in a bounded error or a correct verdict)")
    h.add_argument("--hostile-names", action="store_true", help="packages named with shell syntax, escapes, newlines")
    h.add_argument(
        "--huge-apk", action="append", default=[], metavar="PACKAGE", help="PACKAGE's base APK claims 10 GiB"
    )
    a.set_defaults(func=_android)


def _android(args: argparse.Namespace) -> int:
    from attest.sim import AdbdFaults, AndroidSimConfig, run_android

    props: dict[str, str] = {}
    for spec in args.prop:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            raise ConfigError(f"--prop {spec!r}: expected KEY=VALUE")
        props[key] = value
    if args.apk_dir is not None and not args.apk_dir.is_dir():
        raise ConfigError(f"--apk-dir {args.apk_dir}: not a directory")
    cfg = AndroidSimConfig(
        host=args.host,
        port=args.port,
        serial=args.serial,
        props=props,
        apk_dir=args.apk_dir,
        swap_cert=tuple(args.swap_cert),
        extra_packages=tuple(args.extra_package),
        packages=args.packages,
        hostile_names=args.hostile_names,
        apk_size=args.apk_size,
        huge_apk=tuple(args.huge_apk),
        lie_sha256=args.lie_sha256,
        adb_keys=args.adb_keys,
        faults=AdbdFaults(
            unauthorised=args.unauthorised,
            drop_after=args.drop_after,
            stall_after=args.stall_after,
            keepalive=args.keepalive,
            garbage_after=args.garbage_after,
            drip=args.drip,
            rate=args.rate,
            no_shell_v2=args.no_shell_v2,
        ),
    )
    try:
        run_android(cfg)
    except (ValueError, OSError) as e:  # a bad fault, --apk-dir or --adb-keys, or the port is taken
        raise ConfigError(str(e)) from e
    return 0
