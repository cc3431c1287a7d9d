"""``attest verify``: measure a device, compare it with a trusted baseline, report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from attest._cli._common import (
    add_state_dir,
    add_target_options,
    new_nonce,
    positive_float,
    require_readable,
    state_dir,
    target_options,
    warn,
)
from attest.logs import get_logger

log = get_logger()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify``."""
    p = sub.add_parser(
        "verify",
        help="attest a device against a signed baseline",
        description="Check the baseline's signatures, expiry and version, measure the device, and "
        "report every difference. Exit 0 pass, 1 drift, 2 usage or configuration error, "
        "3 could not attest, 4 baseline not trusted.",
    )
    p.add_argument("--device", required=True, metavar="TARGET", help="directory, /dev/tty*, socket://, ssh://")
    p.add_argument("--baseline", required=True, type=Path, metavar="FILE", help="signed baseline (DSSE envelope)")
    p.add_argument(
        "--trust", required=True, type=Path, metavar="POLICY", help="trust policy: a signed document, or plain TOML"
    )
    p.add_argument(
        "--bundle",
        action="append",
        default=[],
        type=Path,
        metavar="B.sigstore.json",
        help="a Sigstore bundle over the baseline's payload; its identity counts toward the threshold (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (see docs/cli.md)")
    g = p.add_argument_group("signed attestation log")
    g.add_argument(
        "--dock-key", type=Path, metavar="KEYFILE", help="sign the result with this dock key and append it to the log"
    )
    g.add_argument("--log", type=Path, metavar="DIR", help="the log directory (default: STATE_DIR/log)")
    g.add_argument("--origin", help="the log's origin, used when the log is created (default: this host's name)")
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        metavar="N",
        help="end the whole run as an error (exit 3), logged, if it has not finished after N seconds",
    )
    add_state_dir(p)
    add_target_options(p)
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `attest --help` builds every command's parser.
    from attest.attestation import Attestation, run_attestation
    from attest.errors import ConfigError
    from attest.progress import TerminalProgress
    from attest.report import render_text, write_json
    from attest.trust import RollbackState, load_trust

    started = time.monotonic()
    if args.log is not None and args.dock_key is None:
        raise ConfigError("--log needs --dock-key: results are logged only when signed")
    # Configuration errors (exit 2) propagate: there is no result to print.
    policy = load_trust(args.trust, state_dir(args), warn=warn)  # a stored newer policy wins; never a lower one
    # A baseline path that names no readable file is a usage error, not a result about a device:
    # exit 2 before the log is opened, so nothing is logged (and no log is created) for it.
    require_readable(args.baseline, "baseline")
    for bundle in args.bundle:
        require_readable(bundle, "Sigstore bundle")
    state = RollbackState(state_dir(args))
    recorder = None
    if args.dock_key is not None:
        from attest.recorder import Recorder

        log_dir = args.log if args.log is not None else state_dir(args) / "log"
        recorder = Recorder.open(args.dock_key, log_dir, origin=args.origin)
        if policy.lists(recorder.key.public_key()):
            raise ConfigError(
                f"--dock-key {args.dock_key}: this key is listed in {args.trust}; "
                "a key that signs baselines must never sign results"
            )
        if args.origin and recorder.origin != args.origin:
            warn(f"--origin {args.origin} ignored: {log_dir} was created with origin {recorder.origin}")
    job = Attestation(
        target=args.device,
        baseline=args.baseline,
        policy=policy,
        state=state,
        nonce=new_nonce(),
        options=target_options(args),
        max_seconds=args.max_seconds,
        bundles=tuple(args.bundle),
    )
    result = run_attestation(job, progress=TerminalProgress.for_stream())

    log_index = None
    if recorder is not None:
        result, log_index = recorder.record(result)
    log.info(
        "verification",
        device=result.device.id if result.device else args.device,
        verdict=result.verdict.value,
        baseline=result.baseline.name,
        baseline_version=result.baseline.version,
        findings=len(result.findings),
        seconds=round(time.monotonic() - started, 3),
        log_index=log_index,
    )
    if args.json:
        write_json(result, sys.stdout, log_index=log_index)
    else:
        render_text(result, sys.stdout)
    return result.verdict.exit_code
