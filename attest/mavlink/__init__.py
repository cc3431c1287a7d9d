"""MAVLink 2 for the dock and the simulator: framing, link, FTP, parameters, identity.

Message definitions (CRC_EXTRA, field layouts, packing) come from pymavlink's
generated ``common`` dialect. Framing, FTP and parameter handling are written
here by hand because the dock needs properties pymavlink's helpers do not
promise: every wait bounded, resynchronisation one byte after a bad frame,
MAVLink 1 and foreign-system traffic ignored, and every partial read an error.

Modules, lowest first: ``frames`` (deframer, encoder), ``ftp_proto`` (the FTP
wire format), ``budget`` (a floor rate for long transfers), ``link`` (one
controller's conversation), ``identity``, ``params`` and ``paramproto``
(parameters), then FTP: ``ftp_errors``, ``ftp_channel`` (requests and
replies), ``ftp_read`` (one file read) and ``ftp`` (the client facade);
``volatile`` lists the parameters each autopilot changes by itself.
Outside this package, import from here.
"""

from attest.mavlink.frames import MAGIC_V1, MAGIC_V2, Deframer, Frame, decode, encode, mavlink, x25
from attest.mavlink.ftp import FtpClient
from attest.mavlink.ftp_errors import FtpBusyError, FtpNakError, FtpPathError, SessionLostError
from attest.mavlink.ftp_proto import DATA_MAX as FTP_DATA_MAX
from attest.mavlink.ftp_proto import MSG_ID as FTP_MSG_ID
from attest.mavlink.ftp_proto import DirEntry, FtpOp, Nak, Opcode, pack_ftp, unpack_ftp
from attest.mavlink.identity import (
    AUTOPILOT_ARDUPILOT,
    AUTOPILOT_PX4,
    CAP_FTP,
    CAP_PARAM_ENCODE_BYTEWISE,
    Identity,
    decode_git_hash,
    identity_from_messages,
)
from attest.mavlink.link import Link
from attest.mavlink.paramproto import fetch_params
from attest.mavlink.params import (
    Param,
    ParamFormatError,
    decode_pck,
    encode_pck,
    param_from_value,
    param_value_fields,
    params_digest,
    value_text,
)
from attest.mavlink.volatile import VOLATILE_PARAMS, VolatileParam, creation_selection, volatile_for_exclude

__all__ = [
    "AUTOPILOT_ARDUPILOT",
    "AUTOPILOT_PX4",
    "CAP_FTP",
    "CAP_PARAM_ENCODE_BYTEWISE",
    "FTP_DATA_MAX",
    "FTP_MSG_ID",
    "MAGIC_V1",
    "MAGIC_V2",
    "VOLATILE_PARAMS",
    "Deframer",
    "DirEntry",
    "Frame",
    "FtpBusyError",
    "FtpClient",
    "FtpNakError",
    "FtpOp",
    "FtpPathError",
    "Identity",
    "Link",
    "Nak",
    "Opcode",
    "Param",
    "ParamFormatError",
    "SessionLostError",
    "VolatileParam",
    "creation_selection",
    "decode",
    "decode_git_hash",
    "decode_pck",
    "encode",
    "encode_pck",
    "fetch_params",
    "identity_from_messages",
    "mavlink",
    "pack_ftp",
    "param_from_value",
    "param_value_fields",
    "params_digest",
    "unpack_ftp",
    "value_text",
    "volatile_for_exclude",
    "x25",
]
