"""Targets for what a flight controller sends: MAVLink 2 frames, FTP replies, ``param.pck``."""

from __future__ import annotations

from attest.errors import CollectionError, TransportError
from attest.mavlink import (
    CAP_PARAM_ENCODE_BYTEWISE,
    Deframer,
    FtpClient,
    Link,
    Param,
    ParamFormatError,
    decode_pck,
    encode_pck,
    fetch_params,
    identity_from_messages,
)
from attest.sim import default_params
from attest.transports import SerialTransport

from .core import Target, attempt
from .devices import FC, FtpDevicePort, StreamPort, chunked
from .recording import autopilot_version, fc_recordings, ftp_ops

__all__ = ["TARGETS"]

_LINK = (TransportError, CollectionError)


def _frames(data: bytes) -> None:
    """The serial stream from a controller: deframed, then the dock's conversation on it.

    The conversation is the MAVLink collector's: find the autopilot's HEARTBEAT,
    ask for AUTOPILOT_VERSION and decode the identity, then read every parameter
    with PARAM_VALUE (a script that runs out is a controller gone: TransportError).
    """
    deframer = Deframer()
    for chunk in chunked(data):
        deframer.feed(chunk)
    with SerialTransport(StreamPort(data), "fuzz-fc") as transport:
        link = Link(transport, timeout=10)
        heartbeat = link.find_autopilot()
        version = autopilot_version(link)
        identity = identity_from_messages(heartbeat, version)
        identity.digest()
        fetch_params(link, bytewise=bool(identity.capabilities & CAP_PARAM_ENCODE_BYTEWISE))


def _frames_seeds() -> list[bytes]:
    ardupilot, _ = fc_recordings("ardupilot")
    px4, _ = fc_recordings("px4")
    return [ardupilot, px4, ardupilot[:2048]]


def _ftp(data: bytes) -> None:
    """FTP replies from a controller (reply records, see :mod:`tests.fuzz.devices`) to the dock's FTP client."""
    with SerialTransport(FtpDevicePort(data), "fuzz-fc") as transport:
        link = Link(transport, timeout=10)
        link.target_system, link.target_component = FC
        files = ftp_ops(FtpClient(link), lambda fn, *args: attempt(_LINK, fn, *args))
    pck = files.get("@PARAM/param.pck")
    if pck is not None:
        decode_pck(pck)


def _ftp_seeds() -> list[bytes]:
    _, script = fc_recordings("ardupilot")
    return [script]


def _pck_seeds() -> list[bytes]:
    params = default_params("ardupilot")
    return [
        encode_pck(params[:40]),
        encode_pck([Param("A", "int8", -1), Param("AB", "int16", 300), Param("ABC", "float32", 0.5)]),
        encode_pck(params),
    ]


TARGETS = [
    Target(
        "mavlink_frames",
        "attest.mavlink.Deframer, Link, identity_from_messages, fetch_params",
        _frames,
        _LINK,
        _frames_seeds,
        64 * 1024,
    ),
    Target(
        "mavlink_ftp",
        "attest.mavlink.FtpClient (list, CRC, burst reads) and decode_pck on what it read",
        _ftp,
        (*_LINK, ParamFormatError),
        _ftp_seeds,
        32 * 1024,
    ),
    Target("param_pck", "attest.mavlink.decode_pck", decode_pck, (ParamFormatError,), _pck_seeds, 64 * 1024),
]
