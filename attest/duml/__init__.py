"""DUML v1, DJI's internal message bus protocol, as far as the dock needs it: module versions.

Written from the public protocol descriptions in o-gs/dji-firmware-tools
(the Wireshark dissectors ``dji-dumlv1-proto.lua`` and
``dji-dumlv1-general.lua``, ``comm_dat2pcap.py``, ``comm_mkdupc.py``; exact
files and commit in docs/dji.md), in our own code, because the dock needs
what a capture tool does not promise: every wait bounded, resynchronisation
one byte after a bad frame, and only replies to its own requests taken.

Modules, lowest first: ``crc`` (the header CRC-8 and frame CRC-16),
``frames`` (deframer, encoder), ``modules`` (type names, the addresses
asked), ``version`` (the version inquiry's reply), ``link`` (frames over a
byte stream) and ``inquiry`` (the bounded sweep over every module).
Pure protocol: the only IO is through the byte stream given to
:class:`Link`. Outside this package, import from here.
"""

from attest.duml.crc import crc8, crc16
from attest.duml.frames import MAGIC, Address, Deframer, Frame, encode
from attest.duml.inquiry import VERSION_FRAME_MAX, SweepResult, sweep_versions
from attest.duml.link import ByteStream, Link
from attest.duml.modules import DISCOVERY, DOCK, MODULE_TYPES, module_name, parse_module
from attest.duml.version import (
    CMD_ID as VERSION_CMD_ID,
)
from attest.duml.version import (
    CMD_SET as VERSION_CMD_SET,
)
from attest.duml.version import (
    ModuleVersion,
    VersionReplyError,
    format_version,
    parse_version,
    parse_version_reply,
    version_reply_payload,
)

__all__ = [
    "DISCOVERY",
    "DOCK",
    "MAGIC",
    "MODULE_TYPES",
    "VERSION_CMD_ID",
    "VERSION_CMD_SET",
    "VERSION_FRAME_MAX",
    "Address",
    "ByteStream",
    "Deframer",
    "Frame",
    "Link",
    "ModuleVersion",
    "SweepResult",
    "VersionReplyError",
    "crc8",
    "crc16",
    "encode",
    "format_version",
    "module_name",
    "parse_module",
    "parse_version",
    "parse_version_reply",
    "sweep_versions",
    "version_reply_payload",
]
