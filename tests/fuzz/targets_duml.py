"""Targets for what a DJI bus sends: DUML v1 frames and version replies."""

from __future__ import annotations

from attest.duml import (
    VERSION_CMD_ID,
    VERSION_CMD_SET,
    Address,
    Deframer,
    VersionReplyError,
    encode,
    parse_version_reply,
)
from attest.sim import default_modules

from .core import Target, attempt
from .devices import chunked

__all__ = ["TARGETS"]

_DOCK = Address(10, 0)


def _frames(data: bytes) -> None:
    """The serial stream from a DJI bus, deframed in chunks; every version reply to the dock decoded."""
    deframer = Deframer()
    for chunk in chunked(data):
        for frame in deframer.feed(chunk):
            if frame.reply and (frame.cmd_set, frame.cmd_id) == (VERSION_CMD_SET, VERSION_CMD_ID):
                attempt((VersionReplyError,), parse_version_reply, frame.payload)


def _frames_seeds() -> list[bytes]:
    replies = b"".join(
        encode(addr, _DOCK, seq=i, cmd_set=VERSION_CMD_SET, cmd_id=VERSION_CMD_ID, payload=m.payload(), reply=True)
        for i, (addr, m) in enumerate(default_modules().items())
    )
    push = encode(Address(3, 0), Address(2, 0), seq=7, cmd_set=0x03, cmd_id=0x43, payload=bytes(range(48)))
    return [replies, push + replies[:200] + push, replies + bytes(30)]


def _reply_seeds() -> list[bytes]:
    return [m.payload() for m in default_modules().values()]


TARGETS = [
    Target("duml_frames", "attest.duml.Deframer and parse_version_reply on a bus's stream", _frames, (), _frames_seeds),
    Target("duml_version", "attest.duml.parse_version_reply", parse_version_reply, (VersionReplyError,), _reply_seeds),
]
