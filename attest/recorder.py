"""Recording results: sign each with the dock key and append it to the dock's log, durably.

Used by ``attest verify --dock-key`` and by the dock. A result that cannot be
made durable is not a pass: :meth:`Recorder.record` turns it into an ``error``
result (exit 3) with no log index, so the gate stays shut.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from attest.errors import ConfigError, LogError, LogWriteError
from attest.log import Log
from attest.model import Result, Verdict
from attest.signing import load_private_key, sign_result

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Recorder"]


class Recorder:
    """Signs results with the dock key and appends them to one log.

    Attributes:
        key: the dock's private key.
        log_dir: the log directory.
        origin: the log's origin (its checkpoints' first line).
    """

    def __init__(self, key: Ed25519PrivateKey, log_dir: Path, origin: str) -> None:
        self.key = key
        self.log_dir = log_dir
        self.origin = origin

    @classmethod
    def open(cls, key_file: Path, log_dir: Path, *, origin: str | None = None) -> Recorder:
        """Load the key and open (or create) the log now, so a bad one fails before any measuring.

        Args:
            key_file: the dock's private key file.
            log_dir: the log directory (created with ``origin`` if missing).
            origin: the origin for a new log (default: this host's name); an
                existing log keeps its own, see :attr:`origin`.

        Raises:
            ConfigError: unreadable key, unusable log directory, or a log made with another key.
        """
        key = load_private_key(key_file)
        with Log.open(log_dir, origin=origin or socket.gethostname(), create=True) as opened:
            try:
                opened.check_key(key)
            except LogError as e:
                raise ConfigError(f"{log_dir}: {e}; run attest log verify") from e
            return cls(key, log_dir, opened.origin)

    def record(self, result: Result, *, dock_id: str | None = None) -> tuple[Result, int | None]:
        """Append the signed result; returns it and its index.

        A result that cannot be logged becomes an ``error`` result with no index.
        """
        try:
            entry = sign_result(result, self.key, dock_id=dock_id or socket.gethostname())
            with Log.open(self.log_dir) as opened:
                return result, opened.append(entry, key=self.key)
        except (LogError, LogWriteError) as e:
            message = f"result ({result.verdict.value}) could not be logged: {e}"
            failed = Result(Verdict.ERROR, result.device, result.baseline, result.findings, message, result.evidence)
            return failed, None
