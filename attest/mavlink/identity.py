"""Who a flight controller says it is: HEARTBEAT and AUTOPILOT_VERSION decoded into facts.

Everything here is *device-reported*: firmware can claim any version. The
facts select the right baseline (board id, optionally the airframe's uid)
and are hashed into the ``fc/identity`` component; dock-read measurements
(flash, files) are what catch a controller that lies about them.

Encodings (reference §3): ArduPilot puts 8 ASCII hex characters of its git
hash in ``flight_custom_version``; PX4 puts binary little-endian bytes whose
top five bytes are the first five hash bytes.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AUTOPILOT_ARDUPILOT",
    "AUTOPILOT_PX4",
    "CAP_FTP",
    "CAP_PARAM_ENCODE_BYTEWISE",
    "Identity",
    "decode_git_hash",
    "identity_from_messages",
]

AUTOPILOT_ARDUPILOT = 3
AUTOPILOT_PX4 = 12
#: MAV_PROTOCOL_CAPABILITY bits.
CAP_PARAM_ENCODE_BYTEWISE = 16
CAP_FTP = 32

_AUTOPILOT_NAMES = {AUTOPILOT_ARDUPILOT: "ardupilot", AUTOPILOT_PX4: "px4"}
_FW_TYPES = {0: "dev", 64: "alpha", 128: "beta", 192: "rc", 255: "official"}
_HEX = set(string.hexdigits.encode())


def decode_git_hash(raw: bytes, autopilot: int) -> str:
    """The git hash a controller reports in ``flight_custom_version``, as lowercase hex.

    Args:
        raw: the 8 bytes of the field.
        autopilot: MAV_AUTOPILOT from the HEARTBEAT.

    Returns:
        ArduPilot: the 8 ASCII hex characters. PX4: the first five hash bytes
        (bytes 7..3). Anything else: ASCII hex if the bytes are hex
        characters, else all 8 bytes in little-endian order.
    """
    raw = bytes(raw[:8]).ljust(8, b"\0")
    if autopilot == AUTOPILOT_PX4:
        return raw[7:2:-1].hex()
    text = raw.rstrip(b"\0")
    if text and all(b in _HEX for b in text):
        return text.decode("ascii").lower()
    return raw[::-1].hex()


def _version(v: int) -> str:
    return f"{v >> 24 & 0xFF}.{v >> 16 & 0xFF}.{v >> 8 & 0xFF}"


@dataclass(frozen=True)
class Identity:
    """A flight controller's reported identity.

    Attributes:
        facts: identity facts as strings (see :func:`identity_from_messages`).
        uid: the airframe's unique id (hex), empty when the controller reports none.
        capabilities: MAV_PROTOCOL_CAPABILITY bits.
        autopilot: MAV_AUTOPILOT.
    """

    facts: dict[str, str]
    uid: str
    capabilities: int
    autopilot: int

    @property
    def board_id(self) -> int:
        """The board id (upper 16 bits of ``board_version``)."""
        return int(self.facts["board_id"])

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of every fact except the uid.

        The uid is left out so that one baseline fits every airframe of a
        model; ``--pin-device`` pins it through the device selector instead.
        """
        facts = {k: v for k, v in self.facts.items() if k != "uid"}
        return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def identity_from_messages(heartbeat: Any, version: Any) -> Identity:
    """Decode HEARTBEAT and AUTOPILOT_VERSION (pymavlink message objects).

    Facts: ``autopilot``, ``vehicle_type``, ``flight_sw_version`` (``4.5.7``),
    ``firmware_type`` (``official``...), ``git_hash``, ``board_id``,
    ``board_version``, ``vendor_id``/``product_id`` (``0x2dae``),
    ``middleware_sw_version``, ``os_sw_version``, ``middleware_git_hash``,
    ``os_git_hash``, ``capabilities`` and ``uid`` (when non-zero).
    """
    ap = int(heartbeat.autopilot)
    fsw = int(version.flight_sw_version)
    uid2 = bytes(version.uid2)
    uid = uid2.hex() if any(uid2) else (f"{int(version.uid):016x}" if version.uid else "")
    facts = {
        "autopilot": _AUTOPILOT_NAMES.get(ap, str(ap)),
        "vehicle_type": str(int(heartbeat.type)),
        "flight_sw_version": _version(fsw),
        "firmware_type": _FW_TYPES.get(fsw & 0xFF, str(fsw & 0xFF)),
        "git_hash": decode_git_hash(bytes(version.flight_custom_version), ap),
        "board_id": str(int(version.board_version) >> 16),
        "board_version": str(int(version.board_version)),
        "vendor_id": f"0x{int(version.vendor_id):04x}",
        "product_id": f"0x{int(version.product_id):04x}",
        "middleware_sw_version": _version(int(version.middleware_sw_version)),
        "os_sw_version": str(int(version.os_sw_version)),
        "middleware_git_hash": bytes(version.middleware_custom_version).hex(),
        "os_git_hash": bytes(version.os_custom_version).hex(),
        "capabilities": f"0x{int(version.capabilities):x}",
    }
    if uid:
        facts["uid"] = uid
    return Identity(facts=facts, uid=uid, capabilities=int(version.capabilities), autopilot=ap)
