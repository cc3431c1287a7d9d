"""Targets for what a log auditor reads: entries, signed notes, checkpoints, proofs, verifier keys."""

from __future__ import annotations

import json

from attest.errors import ConfigError, LogError
from attest.log import Checkpoint, TlogProof, VerifierKey, check_entry
from attest.signing import Envelope, raw_public_bytes, read_result

from .core import Target
from .fixtures import ORIGIN, fixed_key, workspace

__all__ = ["TARGETS"]

_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def _entry(data: bytes) -> None:
    """A log entry as ``attest log verify`` checks it and ``attest log show`` decodes it.

    ``check_entry`` documents no exception (it returns the problem). The input is
    also taken as a result Statement, signed by the dock, so the Statement decoder
    sees mutated JSON rather than mutated base64.
    """
    w = workspace()
    public = raw_public_bytes(w.dock_key.public_key())
    for entry in (data, Envelope(data, _PAYLOAD_TYPE).signed_by(w.dock_key).to_bytes()):
        check_entry(entry, public)
        try:
            read_result(entry, index=7)
        except LogError as e:
            if e.index != 7:
                raise
            continue


def _entry_seeds() -> list[bytes]:
    w = workspace()
    statements = [Envelope.from_bytes(e).payload for e in w.entries]
    pretty = json.dumps(json.loads(statements[-1]), indent=1).encode()
    return [*w.entries, *statements, pretty]


def _note(data: bytes) -> None:
    """A signed checkpoint note, opened with the log's verifier key (signature lines, verification, text)."""
    w = workspace()
    TlogProof(0, (), data, b"entry").verify(w.vkey, source="fuzz")


def _note_seeds() -> list[bytes]:
    w = workspace()
    text, _, sig = w.checkpoint.rpartition(b"\n\n")
    other = fixed_key("witness")
    cosigned = Checkpoint.from_text(text + b"\n").sign(other).rpartition(b"\n\n")[2]
    return [w.checkpoint, text + b"\n\n" + cosigned + sig, Checkpoint(ORIGIN, 0, bytes(32)).sign(w.dock_key)]


def _checkpoint(data: bytes) -> None:
    Checkpoint.from_text(data, source="fuzz")


def _checkpoint_seeds() -> list[bytes]:
    w = workspace()
    text = w.checkpoint.rpartition(b"\n\n")[0] + b"\n"
    return [text, text + b"ext one\next two\n"]


def _proof(data: bytes) -> None:
    w = workspace()
    cp, entry = TlogProof.from_bytes(data, source="fuzz").verify(w.vkey, source="fuzz")
    check_entry(entry, raw_public_bytes(w.vkey.public_key))
    del cp


def _proof_seeds() -> list[bytes]:
    return list(workspace().proofs)


def _vkey(data: bytes) -> None:
    VerifierKey.parse(data.decode("utf-8", "surrogateescape"))


def _vkey_seeds() -> list[bytes]:
    w = workspace()
    return [str(w.vkey).encode(), str(VerifierKey.for_key("a.example/x", fixed_key("x").public_key())).encode()]


TARGETS = [
    Target(
        "log_entry",
        "attest.log.check_entry and attest.signing.read_result",
        _entry,
        (LogError,),
        _entry_seeds,
        64 * 1024,
    ),
    Target(
        "note",
        "C2SP signed notes, opened as a proof's checkpoint (TlogProof.verify)",
        _note,
        (LogError,),
        _note_seeds,
        16 * 1024,
    ),
    Target("checkpoint", "attest.log.Checkpoint.from_text", _checkpoint, (LogError,), _checkpoint_seeds, 4096),
    Target("proof", "attest.log.TlogProof.from_bytes and verify", _proof, (LogError,), _proof_seeds, 64 * 1024),
    Target("vkey", "attest.log.VerifierKey.parse", _vkey, (ConfigError,), _vkey_seeds, 1024),
]
