"""``attest sim``: simulated drones for demos, tests and trying things out."""

from __future__ import annotations

import argparse
from pathlib import Path

from attest._cli._common import SECONDS, count, number, probability
from attest._cli._sim_android import register_android
from attest._cli._sim_dji import register_dji
from attest._cli._sim_sigstore import register_sigstore
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
    _register_fc(ssub)
    _register_firmware(ssub)
    register_android(ssub)
    register_dji(ssub)
    register_sigstore(ssub)


def _tree(args: argparse.Namespace) -> int:
    from attest.sim import make_tree

    try:
        make_tree(args.out)
    except OSError as e:
        raise ConfigError(f"{args.out}: cannot write simulated tree: {e}") from e
    print(args.out)
    return 0


def _register_fc(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = ssub.add_parser(
        "fc",
        help="run a simulated MAVLink flight controller on a new pty",
        description="Open a new pseudo-terminal, print its path (/dev/pts/N) alone on the first line of "
        "stdout, and serve MAVLink 2 on it until killed: heartbeat, AUTOPILOT_VERSION, parameters, "
        "MAVLink FTP (@PARAM/param.pck, @SYS/flash.bin, scripts, @ROMFS) and a serial bootloader "
        "after a reboot-to-bootloader command.",
    )
    f.add_argument("--autopilot", choices=["ardupilot", "px4"], default="ardupilot")
    f.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set or add a parameter")
    f.add_argument(
        "--file", action="append", default=[], metavar="PATH=LOCALFILE", help="serve LOCALFILE at FTP path PATH"
    )
    f.add_argument(
        "--flash",
        type=Path,
        metavar="FILE",
        help="serve this flash (.apj/.px4 image or raw flash.bin) while still reporting the approved version",
    )
    f.add_argument("--flash-size", type=int, default=2048, metavar="KIB", help="flash size (default 2048)")
    f.add_argument("--lie-crc", action="store_true", help="every CRC32 reported disagrees with the bytes served")
    f.add_argument(
        "--stash-approved",
        action="store_true",
        help="tampered: other code without an app descriptor at the boot address, an untouched approved image "
        "higher in flash (@SYS/flash.bin serves both honestly)",
    )
    f.add_argument("--baud", type=int, metavar="N", help="throttle output to this line rate (default: no limit)")
    f.add_argument("--armed", action="store_true", help="report armed (reboot commands are refused)")
    f.add_argument("--no-ftp", action="store_true", help="offer no MAVLink FTP (parameters by PARAM_VALUE only)")
    f.add_argument("--uid", metavar="HEX", help="the airframe's unique id (uid2), hex")
    f.add_argument(
        "--volatile",
        action="store_true",
        help="change what a healthy controller changes by itself: boot count, ground pressure, stream rates "
        "(new values at every start), STAT_RUNTIME (every --volatile-period), COMPASS_DEC (once, after a GPS fix)",
    )
    f.add_argument(
        "--volatile-period",
        type=number(0.1, 3600, what="between 0.1 and 3600 seconds"),
        default=None,
        metavar="SECONDS",
        help="with --volatile: STAT_RUNTIME is saved every SECONDS (default 30, as ArduPilot does)",
    )
    g = f.add_argument_group("misbehaviour (tests)")
    g.add_argument("--garbage", type=probability, default=0.0, metavar="P", help="random bytes before a frame")
    g.add_argument("--drop", type=probability, default=0.0, metavar="P", help="drop frames")
    g.add_argument("--corrupt", type=probability, default=0.0, metavar="P", help="flip a bit in frames")
    g.add_argument("--truncate", type=probability, default=0.0, metavar="P", help="cut frames short")
    g.add_argument("--mavlink1", action="store_true", help="interleave MAVLink 1 frames carrying altered data")
    g.add_argument("--other-system", action="store_true", help="interleave traffic of another system id")
    g.add_argument("--stall-after", type=int, metavar="N", help="go silent after N frames")
    g.add_argument("--reboot-mid-read", action="store_true", help="reboot during the first FTP read")
    g.add_argument(
        "--ftp-nak",
        action="append",
        default=[],
        metavar="[OP:]CODE",
        help="refuse every FTP OP (read, open, list, crc; default read) with NAK CODE",
    )
    g.add_argument("--seed", type=int, default=1, help="seed of the fault generator")
    g.add_argument(
        "--stale-session",
        action="store_true",
        help="another ground station opened a file over FTP and went away: its session holds ArduPilot's one "
        "file slot until the controller has sent no FTP reply for 3 s",
    )
    h = f.add_argument_group("hostile controller (tests: each must end in a bounded error, never a pass or a hang)")
    h.add_argument("--dup-burst", action="store_true", help="repeat the first packet of every FTP burst forever")
    h.add_argument("--dup-param", action="store_true", help="answer a parameter list with parameter 0 forever")
    h.add_argument(
        "--drip",
        type=SECONDS,
        default=0.0,
        metavar="SECONDS",
        help="answer only the newest request, file data and parameter values one frame per SECONDS",
    )
    h.add_argument(
        "--long-name", action="store_true", help="list a file and a directory whose paths do not fit an FTP request"
    )
    h.add_argument(
        "--fake-descriptors", type=count, default=0, metavar="N", help="put N fake app descriptors in flash.bin"
    )
    h.add_argument(
        "--bl-chatter", action="store_true", help="the bootloader refuses READ_MULTI, then sends noise without end"
    )
    f.set_defaults(func=_fc)


def _fc(args: argparse.Namespace) -> int:
    from attest.sim import Faults, Hostile, SimConfig, default_params, parse_param_override, run_fc

    try:
        params = default_params(args.autopilot)
        for spec in args.param:
            params = parse_param_override(spec, params)
        files: dict[str, bytes] = {}
        for spec in args.file:
            path, sep, local = spec.partition("=")
            if not sep or not path or not local:
                raise ConfigError(f"--file {spec!r}: expected PATH=LOCALFILE")
            files[path] = Path(local).read_bytes()
        uid = bytes.fromhex(args.uid) if args.uid else None
        naks = _naks(args.ftp_nak)
    except (ValueError, OSError) as e:
        raise ConfigError(str(e)) from e
    if args.flash is not None and not args.flash.is_file():
        raise ConfigError(f"--flash {args.flash}: no such file")
    if args.flash is not None and args.stash_approved:
        raise ConfigError("--stash-approved builds its own flash: it cannot be combined with --flash")
    if args.stale_session and (args.autopilot != "ardupilot" or args.no_ftp):
        raise ConfigError("--stale-session models ArduPilot's FTP file slot: it needs --autopilot ardupilot and FTP")
    if args.volatile_period is not None and not args.volatile:
        raise ConfigError("--volatile-period needs --volatile")
    cfg = SimConfig(
        autopilot=args.autopilot,
        params=params,
        files=files,
        flash_file=args.flash,
        flash_kb=args.flash_size,
        lie_crc=args.lie_crc,
        stash_approved=args.stash_approved,
        baud=args.baud,
        armed=args.armed,
        ftp=not args.no_ftp,
        faults=Faults(
            args.garbage, args.drop, args.corrupt, args.truncate, args.mavlink1, args.other_system, args.seed
        ),
        stall_after=args.stall_after,
        reboot_mid_read=args.reboot_mid_read,
        ftp_naks=naks,
        hostile=Hostile(
            args.dup_burst, args.dup_param, args.drip, args.long_name, args.fake_descriptors, args.bl_chatter
        ),
        stale_session=args.stale_session,
        volatile_period=(args.volatile_period or 30.0) if args.volatile else None,
    )
    if uid is not None:
        cfg.uid = uid
    try:
        run_fc(cfg)
    except (ValueError, OSError) as e:  # a bad --flash file or flash size, found before the path is printed
        raise ConfigError(str(e)) from e
    return 0


def _naks(specs: list[str]) -> dict[int, int]:
    from attest.mavlink import Opcode

    ops = {
        "read": (Opcode.READ_FILE, Opcode.BURST_READ_FILE),
        "open": (Opcode.OPEN_FILE_RO,),
        "list": (Opcode.LIST_DIRECTORY,),
        "crc": (Opcode.CALC_FILE_CRC32,),
    }
    out: dict[int, int] = {}
    for spec in specs:
        op, _, code = spec.rpartition(":")
        if (op or "read") not in ops or not code.isdigit() or not 0 < int(code) < 256:
            raise ValueError(f"--ftp-nak {spec!r}: expected [read|open|list|crc:]CODE with CODE 1..255")
        for opcode in ops[op or "read"]:
            out[opcode] = int(code)
    return out


def _register_firmware(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = ssub.add_parser(
        "firmware",
        help="write the simulated controller's firmware as a release file",
        description="Write the firmware image 'attest sim fc' runs as an .apj (ArduPilot) or .px4 file, "
        "for baselines from release files. --variant builds different code claiming the same version.",
    )
    w.add_argument("--out", required=True, type=Path, metavar="FILE", help="FILE.apj or FILE.px4")
    w.add_argument("--autopilot", choices=["ardupilot", "px4"], default="ardupilot")
    w.add_argument("--flash-size", type=int, default=2048, metavar="KIB", help="flash size (default 2048)")
    w.add_argument("--variant", default="", help="build a different image with the same claimed version")
    w.set_defaults(func=_firmware)


def _firmware(args: argparse.Namespace) -> int:
    from attest.sim import board_for, build_image, release_file_bytes

    fmt = "px4" if args.out.suffix == ".px4" else "apj"
    try:
        board = board_for(args.autopilot, flash_kb=args.flash_size)
        args.out.write_bytes(release_file_bytes(board, build_image(board, variant=args.variant), fmt=fmt))
    except (ValueError, OSError) as e:
        raise ConfigError(f"{args.out}: {e}") from e
    print(args.out)
    return 0
