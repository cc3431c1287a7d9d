"""The signed attestation log: an append-only RFC 6962 Merkle log with C2SP checkpoints.

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first; each imports only those above it):

* :mod:`attest.log.merkle`     -- RFC 6962 hashes; RFC 9162 proofs, made and checked
* :mod:`attest.log.tiles`      -- stored interior hashes (C2SP tlog-tiles, one file per level)
* :mod:`attest.log.note`       -- C2SP signed notes and verifier keys (Ed25519)
* :mod:`attest.log.checkpoint` -- C2SP tlog-checkpoint text, signed and opened
* :mod:`attest.log.proof`      -- C2SP tlog-proof files (offline inclusion proofs)
* :mod:`attest.log.layout`     -- the directory's file names and formats, careful bounded IO, creation
* :mod:`attest.log.entry`      -- what an entry must be (a signed result, one byte form); checking a million fast
* :mod:`attest.log.files`      -- the open files of one log, their bounded reads, the checkpoint snapshot
* :mod:`attest.log.writer`     -- durable appends and crash repair, through ``files``
* :mod:`attest.log.store`      -- :class:`Log`: open, lock, read, prove, append (over ``files`` and ``writer``)
* :mod:`attest.log.audit`      -- check every stored byte of a log copy (``attest log verify``)
* :mod:`attest.log.review`     -- decode entries into rows (damaged ones marked) for ``show`` and ``export``
* :mod:`attest.log.html`       -- the self-contained HTML report for fleet managers

The errors, :class:`LogError` (exit 1) and :class:`LogWriteError` (exit 3),
live in :mod:`attest.errors` with every other error and are re-exported here.
"""

from __future__ import annotations

from attest.errors import LogError, LogWriteError
from attest.log.audit import AuditReport, Problem, audit_log
from attest.log.checkpoint import Checkpoint
from attest.log.entry import MAX_ENTRY_BYTES, RESULTS_ONLY, EntryKinds, EntryReader, check_entry, kind_of
from attest.log.html import render_html
from attest.log.layout import read_regular
from attest.log.note import MAX_NOTE_BYTES, VerifierKey
from attest.log.proof import MAX_PROOF_BYTES, TlogProof
from attest.log.review import (
    DamagedEntry,
    DroneSummary,
    OtherEntry,
    ResultFilter,
    read_results,
    render_table,
    summarise,
)
from attest.log.store import Log

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_NOTE_BYTES",
    "MAX_PROOF_BYTES",
    "RESULTS_ONLY",
    "AuditReport",
    "Checkpoint",
    "DamagedEntry",
    "DroneSummary",
    "EntryKinds",
    "EntryReader",
    "Log",
    "LogError",
    "LogWriteError",
    "OtherEntry",
    "Problem",
    "ResultFilter",
    "TlogProof",
    "VerifierKey",
    "audit_log",
    "check_entry",
    "kind_of",
    "read_regular",
    "read_results",
    "render_html",
    "render_table",
    "summarise",
]
