"""The errors of the dock's MAVLink FTP client, and the names of NAK codes in their messages.

Raised by the request layer (:mod:`attest.mavlink.ftp_channel`, which turns
a NAK into an error), by file reads (:mod:`attest.mavlink.ftp_read`) and by
the client facade (:mod:`attest.mavlink.ftp`).
"""

from __future__ import annotations

from attest.errors import CollectionError
from attest.mavlink.ftp_proto import Nak

__all__ = ["BUSY_CODES", "FtpBusyError", "FtpNakError", "FtpPathError", "SessionLostError", "nak_name"]


class FtpNakError(CollectionError):
    """The controller answered an FTP request with a NAK."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        #: The NAK error code (:class:`~attest.mavlink.ftp_proto.Nak`).
        self.code = code


#: NAK codes that refuse a request because another client holds the FTP session slot.
BUSY_CODES = frozenset({Nak.INVALID_SESSION, Nak.NO_SESSIONS_AVAILABLE})


class FtpBusyError(FtpNakError):
    """A request outside an open file was refused because another client holds the controller's FTP session.

    ArduPilot has one file slot for every client (reference §6.3); a ground
    station that opened a file and went away keeps it until the controller's
    inactivity timeout lets a new session take it over. Nothing says the
    controller rebooted.
    """


class SessionLostError(CollectionError):
    """The controller dropped the dock's open file mid-read (a reboot, or the slot taken over)."""


class FtpPathError(CollectionError):
    """A path too long for one FTP request: the dock cannot ask for it (the name came from the controller)."""


def nak_name(code: int) -> str:
    """The name of NAK ``code`` (:class:`~attest.mavlink.ftp_proto.Nak`), or ``code N`` for an unknown one."""
    try:
        return Nak(code).name
    except ValueError:
        return f"code {code}"
