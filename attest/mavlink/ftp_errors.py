"""The errors of the dock's MAVLink FTP client, and the names of NAK codes in their messages.

Raised by the request layer (:mod:`attest.mavlink.ftp_channel`, which turns
a NAK into an error), by file reads (:mod:`attest.mavlink.ftp_read`) and by
the client facade (:mod:`attest.mavlink.ftp`).
"""

from __future__ import annotations

from attest.errors import CollectionError
from attest.mavlink.ftp_proto import Nak

__all__ = ["FtpNakError", "FtpPathError", "SessionLostError", "nak_name"]


class FtpNakError(CollectionError):
    """The controller answered an FTP request with a NAK."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        #: The NAK error code (:class:`~attest.mavlink.ftp_proto.Nak`).
        self.code = code


class SessionLostError(CollectionError):
    """The controller forgot the open file mid-read (it rebooted, or another client reset FTP)."""


class FtpPathError(CollectionError):
    """A path too long for one FTP request: the dock cannot ask for it (the name came from the controller)."""


def nak_name(code: int) -> str:
    """The name of NAK ``code`` (:class:`~attest.mavlink.ftp_proto.Nak`), or ``code N`` for an unknown one."""
    try:
        return Nak(code).name
    except ValueError:
        return f"code {code}"
