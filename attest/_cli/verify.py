"""``attest verify``: measure a device, compare it with a trusted baseline, report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import structlog

from attest._cli._common import add_state_dir, add_target_options, new_nonce, state_dir, target_options
from attest.errors import BaselineError, CollectionError, TransportError
from attest.model import BaselineRef, DeviceIdentity, Result, Verdict
from attest.progress import TerminalProgress
from attest.report import render_text, write_json
from attest.targets import open_collector, target_kind
from attest.trust import RollbackState, TrustedBaseline, TrustPolicy, read_baseline_file, trust_baseline
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
    add_state_dir(p)
    add_target_options(p)
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Configuration errors (exit 2) propagate: there is no result to print.
    policy = TrustPolicy.from_file(args.trust)
    state = RollbackState(state_dir(args))
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

    log.info(
        "verification",
        device=result.device.id if result.device else args.device,
        verdict=result.verdict.value,
        baseline=result.baseline.name,
        baseline_version=result.baseline.version,
        findings=len(result.findings),
        seconds=round(time.monotonic() - started, 3),
    )
    if args.json:
        write_json(result, sys.stdout)
    else:
        render_text(result, sys.stdout)
    return result.verdict.exit_code


def _ref(trusted: TrustedBaseline | None) -> BaselineRef:
    if trusted is None:
        return BaselineRef(None, None, None)
    b = trusted.baseline
    return BaselineRef(b.name, b.version, trusted.digest)
