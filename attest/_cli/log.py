"""``attest log ...``: the dock's signed attestation log, for docks and fleet managers.

``key`` prints the verifier key; ``show`` lists results; ``verify`` checks every
stored byte (exit 0 intact, 1 tampered naming the first bad index, 2 usage);
``proof`` writes a C2SP tlog-proof of one entry and ``verify-proof`` checks one
offline; ``export --html`` writes a report page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attest._cli._common import add_state_dir, state_dir
from attest.errors import ConfigError, LogError
from attest.fsutil import atomic_write
from attest.model import Verdict
from attest.report import printable
from attest.timeutil import parse_time

if TYPE_CHECKING:
    from attest.log import AuditReport, DamagedEntry, EntryKinds, VerifierKey

# attest.log and attest.signing are imported inside the commands: `attest --help`
# builds every command's parser, and they bring in cryptography.

#: A verifier key file holds one short line.
_MAX_VKEY_FILE = 4096


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``log``."""
    p = sub.add_parser(
        "log",
        help="the signed attestation log: show, verify, prove, export",
        description="The dock's append-only log of signed results (RFC 6962 Merkle tree, C2SP checkpoints). "
        "Fleet managers verify a copy of the log directory with only the dock's verifier key.",
    )
    lsub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    k = lsub.add_parser(
        "key",
        help="print the log's verifier key (vkey)",
        description="Print the C2SP verifier key (NAME+KEYID+BASE64) that checks the log's checkpoints and "
        "entries. Give it to fleet managers over a channel they trust.",
    )
    k.add_argument("--dock-key", type=Path, required=True, metavar="KEY", help="the dock's private key")
    g = k.add_mutually_exclusive_group(required=True)
    g.add_argument("--origin", metavar="NAME", help="the log's origin (its key name)")
    g.add_argument("--log", type=Path, metavar="DIR", help="read the origin from this log directory")
    k.set_defaults(func=_key)

    s = lsub.add_parser("show", help="list logged results", description="A table of logged results, oldest first.")
    _add_log(s)
    s.add_argument("--device", metavar="ID", help="only this device")
    s.add_argument("--verdict", choices=[v.value for v in Verdict], help="only this verdict")
    s.add_argument(
        "--since", type=_since, metavar="DATE", help="only results at or after DATE (2027-01-31 or RFC 3339)"
    )
    s.add_argument("--json", action="store_true", help="print a JSON array with the findings")
    s.set_defaults(func=_show)

    v = lsub.add_parser(
        "verify",
        help="check every stored byte of a log",
        description="Recompute the Merkle tree over every entry, check every entry's signature, every stored "
        "hash and the checkpoint's signature, and, with --checkpoint, that an older checkpoint is a prefix. "
        "Exit 0 intact, 1 tampered (names the first bad index), 2 usage or configuration error.",
    )
    _add_log(v)
    v.add_argument("--vkey", required=True, metavar="VKEY", help="the verifier key, or a file holding it")
    v.add_argument("--checkpoint", type=Path, metavar="FILE", help="an older checkpoint you kept")
    v.add_argument("--workers", type=int, metavar="N", help="signature-checking processes (default: all cores)")
    v.add_argument("--json", action="store_true", help="print one JSON object (see docs/log.md); same exit code")
    v.set_defaults(func=_verify)

    pr = lsub.add_parser(
        "proof",
        help="write an inclusion proof of one entry",
        description="Write a C2SP tlog-proof (c2sp.org/tlog-proof@v1) of entry INDEX under the current "
        "checkpoint, with the entry's bytes as extra data so the proof stands alone.",
    )
    pr.add_argument("index", type=int, metavar="INDEX", help="0-based entry index")
    _add_log(pr)
    pr.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the proof")
    pr.set_defaults(func=_proof)

    vp = lsub.add_parser(
        "verify-proof",
        help="check an inclusion proof offline",
        description="Check a tlog-proof: the checkpoint's signature, the entry's inclusion and signature. "
        "Exit 0 valid, 1 invalid, 2 usage.",
    )
    vp.add_argument("file", type=Path, metavar="FILE", help="the .tlog-proof file")
    vp.add_argument("--vkey", required=True, metavar="VKEY", help="the verifier key, or a file holding it")
    vp.add_argument("--json", action="store_true", help="print one JSON object (see docs/log.md); same exit code")
    vp.set_defaults(func=_verify_proof)

    ex = lsub.add_parser(
        "export",
        help="write a self-contained HTML report",
        description="One HTML page: fleet summary, each drone's status and history, every drift with its "
        "findings, the checkpoint and how to verify it. With --vkey the log is verified first (exit 1, and no "
        "page, if it is tampered).",
    )
    _add_log(ex)
    ex.add_argument("--html", type=Path, required=True, metavar="FILE", help="the report to write")
    ex.add_argument("--vkey", metavar="VKEY", help="verify the log first with this key (or key file)")
    ex.set_defaults(func=_export)


def _add_log(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", type=Path, metavar="DIR", help="the log directory (default: log/ in the state directory)")
    add_state_dir(p)


def _log_dir(args: argparse.Namespace) -> Path:
    return Path(args.log) if args.log is not None else state_dir(args) / "log"


def _since(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (2027-01-31) or an RFC 3339 time") from None


def load_vkey(text: str) -> VerifierKey:
    """A verifier key given inline (``NAME+ID+KEY``) or as a file holding one.

    The file is read by :func:`attest.log.read_regular`: a FIFO in its place is refused, not waited on.

    Raises:
        ConfigError: neither a verifier key nor a regular file with one.
    """
    from attest.log import VerifierKey, read_regular

    try:
        return VerifierKey.parse(text)
    except ConfigError as inline_error:
        path = Path(text)
        if not path.exists():
            raise ConfigError(f"--vkey: {inline_error}; nor is it a file") from None
        data = read_regular(path, _MAX_VKEY_FILE, what="verifier key file")
        lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        if len(lines) != 1:
            raise ConfigError(f"{path}: expected one verifier key line") from None
        return VerifierKey.parse(lines[0])


def _entry_kinds() -> EntryKinds:
    """The entry kinds a dock's log holds besides results: the dock's events (``attest dock``).

    ``attest.log`` sits below ``attest.dock`` and cannot know them; the commands name them here,
    and ``attest dock`` names the same when it appends (``Log.open(..., kinds=...)``).
    """
    from attest.dock import ENTRY_KINDS

    return ENTRY_KINDS


def _key(args: argparse.Namespace) -> int:
    from attest.log import Log, VerifierKey
    from attest.signing import load_private_key

    key = load_private_key(args.dock_key)
    if args.origin is not None:
        origin = args.origin
    else:
        with Log.read(args.log) as log:
            origin = log.origin
    print(VerifierKey.for_key(origin, key.public_key()))
    return 0


def _show(args: argparse.Namespace) -> int:
    from attest.log import DamagedEntry, Log, ResultFilter, read_results, render_table

    flt = ResultFilter(device=args.device, verdict=args.verdict, since=args.since)
    with Log.read(_log_dir(args)) as log:
        rows = list(read_results(log, flt, kinds=_entry_kinds()))
    damaged = [r for r in rows if isinstance(r, DamagedEntry)]
    try:
        if args.json:
            json.dump([r.to_json() for r in rows], sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            render_table(rows, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `attest log show | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return _report_damaged(damaged)


def _report_damaged(damaged: list[DamagedEntry]) -> int:
    """Name the damaged entries on stderr; exit 1 when there are any (every other entry was shown)."""
    for d in damaged[:20]:
        print(f"attest: entry {d.index} is damaged: {printable(d.message)}", file=sys.stderr)
    if len(damaged) > 20:
        last = damaged[-1]
        print(
            f"attest: ... and {len(damaged) - 20} more damaged entries, the last: entry {last.index}: "
            f"{printable(last.message)}",
            file=sys.stderr,
        )
    if damaged:
        print("attest: run attest log verify --vkey VKEY to check the whole log", file=sys.stderr)
    return 1 if damaged else 0


def _verify(args: argparse.Namespace) -> int:
    from attest.log import audit_log

    vkey = load_vkey(args.vkey)
    old = _read_checkpoint_file(args.checkpoint) if args.checkpoint is not None else None
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    report = audit_log(_log_dir(args), vkey, old_checkpoint=old, workers=args.workers, kinds=_entry_kinds())
    cp = report.checkpoint
    if args.json:
        return _print_json(_verify_json(report, vkey), 0 if report and cp is not None else 1)
    where = printable(str(report.directory))
    if report and cp is not None:
        print(f"OK: {cp.origin}: {cp.size} entries, root {cp.root.hex()}")
        print(f"  checkpoint signed by {vkey.name}+{vkey.key_id.hex()}; every entry signed; every stored hash matches")
        for note in report.notes:
            print(f"  {printable(note)}")
        print(f"  keep {where}/checkpoint: next time, --checkpoint it to prove nothing was rewritten")
        return 0
    first = report.first_bad_index
    if report.incomplete:
        print(f"INCOMPLETE: {where}: no checkpoint yet; nothing was ever committed, so nothing can be verified")
    elif report.wrong_key:
        key = f"{vkey.name}+{vkey.key_id.hex()}"
        print(f"NOT SIGNED BY THIS KEY: {where}: the checkpoint is not signed by {key} (wrong --vkey?)")
    else:
        head = f"first bad index {first}" if first is not None else "no single entry to blame"
        print(f"TAMPERED: {where}: {head}")
    for p in report.problems[:20]:
        print(f"  {printable(p.message)}")
    if report.problem_count > 20:
        print(f"  ... and {report.problem_count - 20} more problems")
    for note in report.notes:
        print(f"  note: {printable(note)}")
    return 1


def _print_json(obj: dict[str, object], code: int) -> int:
    """Write one JSON object on stdout; return ``code`` (the exit code the text output would have)."""
    json.dump(obj, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return code


def _status(report: AuditReport) -> str:
    """The first word of ``attest log verify``'s text output, for ``--json``."""
    if report and report.checkpoint is not None:
        return "ok"
    if report.incomplete:
        return "incomplete"
    return "not_signed_by_this_key" if report.wrong_key else "tampered"


def _verify_json(report: AuditReport, vkey: VerifierKey) -> dict[str, object]:
    """The object ``attest log verify --json`` prints (docs/log.md names every field)."""
    cp, old = report.checkpoint, report.old_checkpoint
    return {
        "intact": _status(report) == "ok",
        "status": _status(report),
        "directory": str(report.directory),
        "vkey": f"{vkey.name}+{vkey.key_id.hex()}",
        "origin": cp.origin if cp is not None else None,
        "size": cp.size if cp is not None else None,
        "root": cp.root.hex() if cp is not None else None,
        "entries_checked": report.entries,
        "old_checkpoint": {"size": old.size, "root": old.root.hex()} if old is not None else None,
        "first_bad_index": report.first_bad_index,
        "problem_count": report.problem_count,
        "problems": [{"index": p.index, "message": p.message} for p in report.problems],
        "notes": list(report.notes),
    }


def _read_checkpoint_file(path: Path) -> bytes:
    from attest.log import MAX_NOTE_BYTES, read_regular

    return read_regular(path, MAX_NOTE_BYTES, what="checkpoint")


def _proof(args: argparse.Namespace) -> int:
    from attest.log import Log

    with Log.read(_log_dir(args)) as log:
        if not 0 <= args.index < log.size:
            raise ConfigError(f"no entry {args.index}: the log has {log.size} entries (indexes start at 0)")
        proof = log.prove(args.index)
        size = log.size
    atomic_write(args.out, proof.to_bytes())
    print(f"wrote a proof of entry {args.index} (tree size {size}) to {args.out}")
    return 0


def _verify_proof(args: argparse.Namespace) -> int:
    from attest.log import MAX_PROOF_BYTES, TlogProof, check_entry, kind_of, read_regular
    from attest.signing import PREDICATE_TYPE, LoggedResult, raw_public_bytes, read_result

    vkey = load_vkey(args.vkey)
    data = read_regular(args.file, MAX_PROOF_BYTES, what="proof")
    source = str(args.file)
    try:
        proof = TlogProof.from_bytes(data, source=source)
        cp, entry = proof.verify(vkey, source=source)
        kinds = _entry_kinds()
        why = check_entry(entry, raw_public_bytes(vkey.public_key), index=proof.index, kinds=kinds)
        if why is not None:
            raise LogError(f"{source}: entry {proof.index} is in the log, but {why}", index=proof.index)
        kind = kind_of(entry, kinds)
        r = kinds[kind](entry, index=proof.index) if kind is not None else read_result(entry, index=proof.index)
    except LogError as e:
        if not args.json:
            raise
        return _print_json({"valid": False, "index": e.index, "message": str(e)}, e.exit_code)
    if args.json:
        return _print_json(
            {
                "valid": True,
                "index": proof.index,
                "origin": cp.origin,
                "size": cp.size,
                "root": cp.root.hex(),
                "kind": kind or PREDICATE_TYPE,
                "entry": r.to_json() if isinstance(r, LoggedResult) else {"index": proof.index, "kind": kind},
                "message": None,
            },
            0,
        )
    print(f"OK: entry {proof.index} of {cp.origin} (tree size {cp.size}) is in the log and signed by its key")
    if not isinstance(r, LoggedResult):
        print(f"  an entry of kind {printable(kind or '?')}")
        return 0
    print(
        f"  {r.time.isoformat().replace('+00:00', 'Z')} {printable(r.device_id)} {r.verdict} against "
        f"{printable(r.baseline_label())}, {len(r.findings)} finding(s), dock {printable(r.dock_id)}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from attest.log import DamagedEntry, Log, OtherEntry, audit_log, read_results, render_html

    directory = _log_dir(args)
    kinds = _entry_kinds()
    vkey = load_vkey(args.vkey) if args.vkey is not None else None
    verified = None
    if vkey is not None:
        report = audit_log(directory, vkey, kinds=kinds)
        if not report:
            first = report.first_bad_index
            where = f"first bad index {first}" if first is not None else report.problems[0].message
            raise LogError(f"{directory}: the log is not intact ({where}); run attest log verify; no report written")
        verified = report.checkpoint
    with Log.read(directory) as log:
        if verified is not None and log.checkpoint != verified:
            # A dock appended between the check and the read: the page would show unverified entries.
            raise LogError(f"{directory}: the log grew while it was exported; run the export again")
        rows = list(read_results(log, kinds=kinds))
        results = [r for r in rows if not isinstance(r, DamagedEntry | OtherEntry)]
        damaged = [r for r in rows if isinstance(r, DamagedEntry)]
        others = [r for r in rows if isinstance(r, OtherEntry)]
        page = render_html(
            results,
            origin=log.origin,
            checkpoint_note=log.checkpoint_note,
            checkpoint=log.checkpoint,
            generated=datetime.now(UTC),
            vkey=str(vkey) if vkey is not None else None,
            verified=vkey is not None,
            damaged=damaged,
            others=others,
        )
    atomic_write(args.html, page.encode("utf-8"))
    marked = f", {len(damaged)} damaged entries marked" if damaged else ""
    print(f"wrote {args.html}: {len(results)} results{marked}")
    return _report_damaged(damaged)
