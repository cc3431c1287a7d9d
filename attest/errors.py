"""The one error root of drone-attest, split by blame.

Every failure a user can cause or meet (a bad file, an unreachable drone, a
baseline that cannot be trusted) raises a subclass of :class:`AttestError`.
The command line maps each subclass to its exit code, so a new module only
has to pick the right subclass to behave correctly for scripts.

Misuse of the API by a programmer (wrong types, calls out of order) raises the
ordinary ``TypeError``/``ValueError``/``RuntimeError`` instead: that is a bug,
not bad data.
"""

from __future__ import annotations

__all__ = [
    "AttestError",
    "BaselineError",
    "CollectionError",
    "ConfigError",
    "LogError",
    "LogWriteError",
    "TransportError",
    "UntrustedBaselineError",
]


class AttestError(Exception):
    """Base type of every error drone-attest reports to a user."""

    #: Exit code of ``attest verify`` / ``attest dock`` for this kind of error.
    exit_code: int = 3


class ConfigError(AttestError):
    """A bad command line, trust policy, key file or configuration (exit 2)."""

    exit_code = 2


class TransportError(AttestError):
    """The dock could not talk to the device: missing, unreachable, timed out (exit 3)."""

    exit_code = 3


class CollectionError(AttestError):
    """The device answered, but a measurement could not be completed (exit 3)."""

    exit_code = 3


class BaselineError(AttestError):
    """A baseline file is malformed: not JSON, not an envelope, bad fields (exit 4).

    A malformed baseline is never trusted, so it shares the exit code of
    :class:`UntrustedBaselineError`.
    """

    exit_code = 4


class UntrustedBaselineError(BaselineError):
    """A well-formed baseline failed the trust check (signatures, expiry, rollback, device)."""


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
