"""The dock's MAVLink 2 conversation with one flight controller.

:class:`Link` sends requests as a ground station (system 255, component 190)
and returns only verified MAVLink 2 frames from the one autopilot it chose
(the first that sends a HEARTBEAT with an autopilot type), so traffic from
other systems on the same wire is never taken for an answer. Every wait has a
deadline; running out raises :class:`~attest.errors.TransportError` saying
what was awaited.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from attest.errors import TransportError
from attest.mavlink.frames import Deframer, Frame, decode, encode, mavlink
from attest.mavlink.ftp_proto import MSG_ID as FTP_MSG_ID
from attest.mavlink.ftp_proto import FtpOp, pack_ftp
from attest.transports import SerialTransport

__all__ = ["DOCK_COMPONENT", "DOCK_SYSTEM", "Link"]

#: The dock's own ids: a ground station (MAV_COMP_ID_MISSIONPLANNER).
DOCK_SYSTEM = 255
DOCK_COMPONENT = 190
#: MAV_AUTOPILOT_INVALID: a heartbeat from something that is not an autopilot.
_AUTOPILOT_INVALID = 8
_MAV_CMD_REQUEST_MESSAGE = 512

T = TypeVar("T")


class Link:
    """A MAVLink 2 link to one flight controller.

    Args:
        transport: the open serial port.
        timeout: the default bound, in seconds, of each wait.
    """

    def __init__(self, transport: SerialTransport, *, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self._deframer = Deframer()
        self._queue: deque[Frame] = deque()
        self._mav = mavlink.MAVLink(self, DOCK_SYSTEM, DOCK_COMPONENT)
        #: The autopilot's ids, once :meth:`find_autopilot` has run.
        self.target_system = 0
        self.target_component = 0
        #: Frames from other systems that were ignored.
        self.foreign = 0
        #: When the link was opened (monotonic): a controller up for less has rebooted since.
        self.opened = time.monotonic()

    # pymavlink's MAVLink.send() writes through this.
    def write(self, data: bytes) -> None:
        """Send raw bytes (used by pymavlink's ``send``)."""
        self.transport.write(bytes(data))

    @property
    def rejected(self) -> int:
        """Candidate frames dropped by the deframer (noise, bad CRC, MAVLink 1)."""
        return self._deframer.rejected

    def send(self, msg: Any) -> None:
        """Send a pymavlink message object as a MAVLink 2 frame."""
        self._mav.send(msg)

    def send_ftp(self, op: FtpOp) -> None:
        """Send one FTP request to the autopilot."""
        payload = pack_ftp(op, target_system=self.target_system, target_component=self.target_component)
        seq = self._mav.seq
        self._mav.seq = (seq + 1) % 256
        self.transport.write(
            encode(FTP_MSG_ID, payload, seq=seq, sysid=DOCK_SYSTEM, compid=DOCK_COMPONENT),
        )

    def recv(self, deadline: float) -> Frame | None:
        """The next frame from the autopilot, or ``None`` once ``deadline`` (monotonic) passes."""
        while True:
            while self._queue:
                frame = self._queue.popleft()
                if self.target_system and (frame.sysid != self.target_system or frame.compid != self.target_component):
                    self.foreign += 1
                    continue
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.transport.read(left)
            if data:
                self._queue.extend(self._deframer.feed(data))

    def wait(
        self,
        accept: Callable[[Frame], T | None],
        *,
        what: str,
        timeout: float | None = None,
        resend: Callable[[], None] | None = None,
        every: float = 1.0,
    ) -> T:
        """Wait for the first frame ``accept`` turns into a value.

        Args:
            accept: returns a value for the awaited frame, ``None`` for any other.
            what: what is awaited, for the error message.
            timeout: seconds to wait (default: the link's timeout).
            resend: called first and again every ``every`` seconds without an
                answer (a lost request or reply is sent again).
            every: resend interval in seconds.

        Raises:
            TransportError: nothing acceptable arrived in time.
        """
        limit = self.timeout if timeout is None else timeout
        end = time.monotonic() + limit
        while True:
            if resend is not None:
                resend()
            step = min(end, time.monotonic() + every) if resend is not None else end
            while (frame := self.recv(step)) is not None:
                value = accept(frame)
                if value is not None:
                    return value
            if time.monotonic() >= end:
                raise TransportError(f"{self.transport.target}: no {what} within {limit:g} s")

    def find_autopilot(self) -> Any:
        """Wait for a HEARTBEAT from an autopilot and lock the link onto its system/component.

        Returns:
            The pymavlink HEARTBEAT message.

        Raises:
            TransportError: no autopilot heartbeat within the timeout.
        """

        def heartbeat(frame: Frame) -> Any:
            if frame.msgid != mavlink.MAVLINK_MSG_ID_HEARTBEAT:
                return None
            msg = decode(frame)
            return msg if msg.autopilot != _AUTOPILOT_INVALID else None

        # Heartbeats come once a second; asking for one (broadcast) saves most of that wait.
        ask = mavlink.MAVLink_command_long_message(0, 0, _MAV_CMD_REQUEST_MESSAGE, 0, 0, 0, 0, 0, 0, 0, 0)
        hb = self.wait(
            heartbeat,
            what="HEARTBEAT from an autopilot (is this a flight controller?)",
            resend=lambda: self.send(ask),
            every=0.3,
        )
        self.target_system, self.target_component = hb.get_srcSystem(), hb.get_srcComponent()
        return hb

    def command(self, command: int, *params: float, what: str, timeout: float | None = None) -> int:
        """Send COMMAND_LONG ``command`` until its COMMAND_ACK arrives; return the MAV_RESULT.

        Args:
            command: MAV_CMD id.
            params: param1..param7 (missing ones are 0).
            what: the command's name, for the error message.
            timeout: seconds to wait for the ACK.

        Raises:
            TransportError: no ACK in time.
        """
        p = [float(x) for x in params] + [0.0] * (7 - len(params))
        msg = mavlink.MAVLink_command_long_message(self.target_system, self.target_component, command, 0, *p)

        def ack(frame: Frame) -> int | None:
            if frame.msgid != mavlink.MAVLINK_MSG_ID_COMMAND_ACK:
                return None
            m = decode(frame)
            if m.command != command or m.target_system not in (0, DOCK_SYSTEM):
                return None
            return int(m.result)

        return self.wait(ack, what=f"COMMAND_ACK for {what}", timeout=timeout, resend=lambda: self.send(msg))

    def uptime(self, *, timeout: float) -> float | None:
        """Seconds since the controller booted (SYSTEM_TIME ``time_boot_ms``, requested), or ``None``.

        Evidence of a reboot during the attestation is an uptime shorter than
        the time since :attr:`opened`. ``None`` when no SYSTEM_TIME arrives
        within ``timeout`` (the controller does not say): no evidence either way.
        """
        ask = mavlink.MAVLink_command_long_message(
            self.target_system, self.target_component, _MAV_CMD_REQUEST_MESSAGE, 0,
            mavlink.MAVLINK_MSG_ID_SYSTEM_TIME, 0, 0, 0, 0, 0, 0,
        )  # fmt: skip

        def system_time(frame: Frame) -> float | None:
            if frame.msgid != mavlink.MAVLINK_MSG_ID_SYSTEM_TIME:
                return None
            return float(decode(frame).time_boot_ms) / 1000

        try:
            return self.wait(system_time, what="SYSTEM_TIME", timeout=timeout, resend=lambda: self.send(ask), every=0.5)
        except TransportError:
            return None
