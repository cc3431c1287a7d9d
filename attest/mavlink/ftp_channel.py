"""MAVLink FTP requests and their replies over a link: sequence numbers, re-sends, reply matching, round trips.

The layer below the dock's FTP operations: :class:`~attest.mavlink.ftp.FtpClient`
(list, CRC, open, close) and the file reader (:mod:`attest.mavlink.ftp_read`)
both speak through one :class:`FtpChannel`, so they share one sequence
counter and one round-trip estimate.

A reply is matched by request opcode and a sequence window, so a stale reply
cannot answer a later request; the counter always moves past every reply
seen. A request is re-sent with the same sequence number until it is
answered, and a NAK is translated into the FTP errors of
:mod:`attest.mavlink.ftp_errors`.
"""

from __future__ import annotations

import time

from attest.mavlink.frames import Frame
from attest.mavlink.ftp_errors import BUSY_CODES, FtpBusyError, FtpNakError, nak_name
from attest.mavlink.ftp_proto import MSG_ID, FtpOp, Nak, Opcode, unpack_ftp
from attest.mavlink.link import DOCK_SYSTEM, Link

__all__ = ["FtpChannel"]


class FtpChannel:
    """FTP requests to the autopilot a :class:`~attest.mavlink.link.Link` is locked onto, and their replies."""

    def __init__(self, link: Link, *, retry: float | None = None) -> None:
        """Send FTP requests over ``link``.

        Args:
            link: a link locked onto the autopilot.
            retry: seconds without a reply before a request is sent again
                (default: a fifth of the link timeout, between 0.2 and 1 s).
        """
        self._link = link
        self._seq = 0
        self._retry = retry if retry is not None else min(1.0, max(0.2, link.timeout / 5))
        #: Smoothed round-trip time of read requests, for quick re-requests of lost packets.
        self._srtt = 0.1

    @property
    def link(self) -> Link:
        """The link the requests go over (its timeout bounds every wait)."""
        return self._link

    @property
    def retry(self) -> float:
        """Seconds without a reply before a request is sent again."""
        return self._retry

    @property
    def read_retry(self) -> float:
        """Silence after which a read (or the rest of a burst) is presumed lost: a few round trips."""
        return min(self._retry, max(0.05, 4 * self._srtt + 0.02))

    def sample_rtt(self, seconds: float) -> None:
        """Fold one measured round trip (a request answered without a re-send) into :attr:`read_retry`."""
        self._srtt += (seconds - self._srtt) / 8

    # -- requests and replies -------------------------------------------------------

    def request(self, opcode: int, *, session: int = 0, offset: int = 0, data: bytes = b"", size: int = -1) -> FtpOp:
        """A new request with the next sequence number (not sent: see :meth:`send` and :meth:`ack`).

        Args:
            opcode: the operation (:class:`~attest.mavlink.ftp_proto.Opcode`).
            session: the session id of an open file.
            offset: file offset or directory entry index.
            data: request data (a path), at most one packet's worth.
            size: the header's ``size`` when it is not ``len(data)`` (a read's length).
        """
        op = FtpOp(self._seq, session, opcode, offset=offset, data=data, size=size)
        self._seq = (self._seq + 1) & 0xFFFF
        return op

    def send(self, op: FtpOp) -> None:
        """Send ``op`` once (again, for a lost one: it keeps its sequence number)."""
        self._link.send_ftp(op)

    def skip(self, count: int) -> None:
        """Move the sequence number on by ``count``, so late replies to earlier requests fall outside later windows."""
        self._seq = (self._seq + count) & 0xFFFF

    @staticmethod
    def parse(frame: Frame) -> FtpOp | None:
        """The FTP reply (ACK or NAK) ``frame`` carries to the dock, if it is one."""
        if frame.msgid != MSG_ID:
            return None
        tsys, _tcomp, op = unpack_ftp(frame.payload)
        if tsys != DOCK_SYSTEM or op.opcode not in (Opcode.ACK, Opcode.NAK):
            return None
        return op

    def accept(self, op: FtpOp, req: FtpOp, window: int = 1) -> bool:
        """Whether reply ``op`` answers ``req``; if so, later requests get sequence numbers beyond it.

        Args:
            op: a reply (from :meth:`parse`).
            req: a request sent on this channel.
            window: how many sequence numbers after ``req``'s a reply may carry
                (a burst's replies advance it once per packet).
        """
        if op.req_opcode != req.opcode or not 1 <= (op.seq - req.seq) & 0xFFFF <= window:
            return False  # another request's reply, or a stale one
        if (op.seq + 1 - self._seq) & 0xFFFF < 0x8000:
            # Keep later requests beyond every reply seen, so their windows
            # never cover a reply to this one (bursts advance seq per packet).
            self._seq = (op.seq + 1) & 0xFFFF
        return True

    def ack(self, op: FtpOp, what: str) -> FtpOp:
        """Send ``op`` (again, same sequence number, until answered) and return its ACK.

        Args:
            op: a request from :meth:`request`.
            what: the request, for error messages (``"OpenFileRO '@PARAM/param.pck'"``).

        Raises:
            FtpBusyError: NAK INVALID_SESSION or NO_SESSIONS_AVAILABLE: another client holds the FTP session.
            FtpNakError: any other NAK, with its code.
            TransportError: no reply within the link timeout.
        """
        reply = self._transact(op, what)
        code = reply.nak_code()
        if code is None:
            return reply
        if code in BUSY_CODES:
            why = f"another client holds the controller's FTP session (NAK {nak_name(code)})"
            raise FtpBusyError(f"{what}: {why}", code)
        detail = f" (errno {reply.data[1]})" if code == Nak.FAIL_ERRNO and len(reply.data) > 1 else ""
        raise FtpNakError(f"{what}: controller answered NAK {nak_name(code)}{detail}", code)

    def _transact(self, op: FtpOp, what: str) -> FtpOp:
        """Send ``op`` (again, same seq, until answered); return the ACK/NAK reply."""
        sends: list[float] = []

        def send() -> None:
            sends.append(time.monotonic())
            self._link.send_ftp(op)

        def reply_to(frame: Frame) -> FtpOp | None:
            reply = self.parse(frame)
            return reply if reply is not None and self.accept(reply, op) else None

        reply = self._link.wait(reply_to, what=f"FTP reply to {what}", resend=send, every=self._retry)
        if len(sends) == 1:
            self.sample_rtt(time.monotonic() - sends[0])
        return reply
