"""The signed attestation log: an append-only RFC 6962 Merkle log with C2SP checkpoints.

Modules, one job each:

* :mod:`attest.log.merkle`     -- RFC 6962 hashes; RFC 9162 proofs, made and checked
* :mod:`attest.log.note`       -- C2SP signed notes and verifier keys (Ed25519)
* :mod:`attest.log.checkpoint` -- C2SP tlog-checkpoint text, signed and opened
* :mod:`attest.log.proof`      -- C2SP tlog-proof files (offline inclusion proofs)
* :mod:`attest.log.tiles`      -- stored interior hashes (C2SP tlog-tiles, one file per level)
* :mod:`attest.log.entry`      -- what an entry must be (DSSE, the log's key); checking a million fast
* :mod:`attest.log.layout`     -- the directory's files, their formats, careful bounded IO
* :mod:`attest.log.store`      -- :class:`~attest.log.store.Log`: open, lock, read, prove, append
* :mod:`attest.log.writer`     -- durable appends and crash repair
* :mod:`attest.log.audit`      -- check every stored byte of a log copy (``attest log verify``)
* :mod:`attest.log.review`     -- decode entries into rows for ``show`` and ``export``
* :mod:`attest.log.html`       -- the self-contained HTML report for fleet managers

This module holds only the errors, so that every other module can import it.
"""

from __future__ import annotations

from attest.errors import AttestError

__all__ = ["LogError", "LogWriteError"]


class LogError(AttestError):
    """The log's bytes do not prove what they claim: tampered, corrupt or inconsistent (exit 1).

    Also raised for a proof or checkpoint that does not verify.

    Attributes:
        index: the first bad entry index (0-based) when it is known, else ``None``.
    """

    exit_code = 1

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class LogWriteError(AttestError):
    """An append could not be made durable: disk full, I/O error, entry too large (exit 3).

    Nothing was committed: the checkpoint still names the previous tree.
    """

    exit_code = 3
