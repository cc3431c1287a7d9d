"""``attest verify``: measure a device, compare it with a trusted baseline, report."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest._cli._common import add_state_dir, add_target_options, new_nonce, state_dir, target_options, warn
from attest.errors import BaselineError, CollectionError, ConfigError, TransportError
from attest.log import LogError, LogWriteError
from attest.model import BaselineRef, DeviceIdentity, Result, Verdict
from attest.progress import TerminalProgress
from attest.report import render_text, write_json
from attest.signing.keys import load_private_key
from attest.targets import open_collector, target_kind
from attest.trust.decision import RollbackState, TrustedBaseline, TrustPolicy, read_baseline_file, trust_baseline
from attest.verifier import verify

log = structlog.get_logger()


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
    p.add_argument("--trust", required=True, type=Path, metavar="POLICY", help="trust policy (TOML)")
    p.add_argument("--json", action="store_true", help="print one JSON object (see docs/cli.md)")
    g = p.add_argument_group("signed attestation log")
    g.add_argument(
        "--dock-key", type=Path, metavar="KEYFILE", help="sign the result with this dock key and append it to the log"
    )
    g.add_argument("--log", type=Path, metavar="DIR", help="the log directory (default: STATE_DIR/log)")
    g.add_argument("--origin", help="the log's origin, used when the log is created (default: this host's name)")
    add_state_dir(p)
    add_target_options(p)
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Configuration errors (exit 2) propagate: there is no result to print.
    policy = TrustPolicy.from_file(args.trust)
    state = RollbackState(state_dir(args))
    recorder = _Recorder.open(args) if args.dock_key else None
    opts = target_options(args)
    placeholder = DeviceIdentity(kind=target_kind(args.device), id=args.device, target=args.device)
    trusted: TrustedBaseline | None = None
    try:
        data = read_baseline_file(args.baseline)
        trusted = trust_baseline(data, policy=policy, state=state, source=str(args.baseline))
        collector = open_collector(args.device, opts)
        evidence = collector.collect(
            trusted.baseline.collection,
            nonce=new_nonce(),
            device_match=trusted.baseline.device_match,
            progress=TerminalProgress.for_stream(),
        )
        result = verify(evidence, trusted)
    except BaselineError as e:
        ref = _ref(trusted)
        result = Result(Verdict.UNTRUSTED, placeholder, ref, message=str(e))
    except (TransportError, CollectionError) as e:
        result = Result(Verdict.ERROR, placeholder, _ref(trusted), message=str(e))

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


class _Recorder:
    """Signs results with the dock key and appends them to the dock's log."""

    def __init__(self, key: Ed25519PrivateKey, log_dir: Path, origin: str | None) -> None:
        self._key = key
        self._log_dir = log_dir
        self._origin = origin

    @classmethod
    def open(cls, args: argparse.Namespace) -> _Recorder:
        """Load the key and open (or create) the log now, so a bad one fails before any measuring.

        Raises:
            ConfigError: unreadable key, unusable log directory, or a log made with another key.
        """
        from attest.log.store import Log  # only docks that log pay for importing it

        key = load_private_key(args.dock_key)
        log_dir = args.log if args.log is not None else state_dir(args) / "log"
        with Log.open(log_dir, origin=args.origin or socket.gethostname(), create=True) as opened:
            try:
                opened.check_key(key)
            except LogError as e:
                raise ConfigError(f"{log_dir}: {e}; run attest log verify") from e
            if args.origin and opened.origin != args.origin:
                warn(f"--origin {args.origin} ignored: {log_dir} was created with origin {opened.origin}")
        return cls(key, log_dir, args.origin)

    def record(self, result: Result) -> tuple[Result, int | None]:
        """Append the signed result; returns it and its index.

        A result that cannot be logged is not a pass: it becomes an ``error``
        result (exit 3) with no index, and the gate stays shut.
        """
        from attest.log.store import Log
        from attest.signing.results import sign_result

        try:
            entry = sign_result(result, self._key, dock_id=socket.gethostname())
            with Log.open(self._log_dir) as opened:
                return result, opened.append(entry, key=self._key)
        except (LogError, LogWriteError) as e:
            message = f"result ({result.verdict.value}) could not be logged: {e}"
            failed = Result(Verdict.ERROR, result.device, result.baseline, result.findings, message, result.evidence)
            return failed, None


def _ref(trusted: TrustedBaseline | None) -> BaselineRef:
    if trusted is None:
        return BaselineRef(None, None, None)
    b = trusted.baseline
    return BaselineRef(b.name, b.version, trusted.digest)
