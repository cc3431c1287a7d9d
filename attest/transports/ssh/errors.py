"""How failures on an SSH connection reach the user: as a TransportError that says what was awaited.

Every paramiko and socket error becomes a :class:`~attest.errors.TransportError`
(exit 3) raised ``from`` the original. Text a device sent (file names,
stderr, SFTP messages) is passed through :func:`printable` before it is put
into a message, so a hostile device cannot write to the dock's terminal.

Hand-written: :func:`translated`, the net under every operation, because a
dying connection surfaces as paramiko's own exceptions, socket errors or a
bare ``EOFError`` (from its packetizer) at unforeseen moments, and must still
be exit 3 with a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import paramiko

from attest.errors import TransportError

__all__ = ["LOST", "printable", "timed_out", "translated"]

#: What paramiko raises when the connection is gone (EOFError from its packetizer).
LOST = (OSError, EOFError, paramiko.SSHException)


def timed_out(label: str, seconds: float, what: str) -> TransportError:
    """The error for a wait on the device that lasted ``seconds`` without ``what`` arriving."""
    return TransportError(f"{label}: timed out after {seconds:g} s waiting for {what}")


@contextlib.contextmanager
def translated(label: str) -> Iterator[None]:
    """Turn any paramiko or socket error that escapes the code inside into a TransportError.

    The operations here translate the errors they expect; this is the net
    under them, so that a connection dying at an unforeseen moment is exit 3
    with a message, never a traceback (and never a pass).
    """
    try:
        yield
    except TimeoutError as e:
        raise TransportError(f"{label}: timed out waiting for the device") from e
    except LOST as e:
        raise TransportError(f"{label}: the connection failed: {str(e) or type(e).__name__}") from e


def printable(raw: bytes | str, limit: int = 200) -> str:
    """Text a device sent, safe to show: control characters escaped, at most ``limit`` characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"
