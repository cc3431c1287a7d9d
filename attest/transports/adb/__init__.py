"""ADB to an Android controller, spoken directly to its adbd (no adb server on the dock).

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first; each imports only those above it):

* :mod:`attest.transports.adb.wire`       -- the 24-byte message header, its checks, command constants
  (exported here for the simulator's server side; ``encode`` as :func:`encode_message`)
* :mod:`attest.transports.adb.keys`       -- the dock's RSA key (0600), Android's public-key format, AUTH signatures
* :mod:`attest.transports.adb.target`     -- :class:`AdbTarget`: ``adb://SERIAL``, ``adb+tcp://HOST[:PORT]``
* :mod:`attest.transports.adb.link`       -- the :class:`Link` interface; the TCP link, every wait bounded by a deadline
* :mod:`attest.transports.adb.usb`        -- :class:`UsbLink`: ``adb://SERIAL`` over USB bulk endpoints (pyusb,
  imported only for USB targets)
* :mod:`attest.transports.adb.shell`      -- argument quoting (:func:`command_line`), the shell v2 protocol
* :mod:`attest.transports.adb.connection` -- :class:`AdbConnection`: handshake, streams, shell
* :mod:`attest.transports.adb.sync`       -- :class:`SyncSession`: STAT, LIST, RECV

Why our own client rather than the ``adb-shell`` package (which MVT uses):
the simulator needs the same wire format, key format and signature check on
the server side, so they are written once here; every wait and every read
must be bounded the project's way (a deadline that only progress extends, a
floor rate, size caps on shell output and pulls), which ``adb-shell`` does not
offer (it accumulates shell output unbounded and retries reads on its own
timers); and it needs no dependency beyond ``cryptography``, which the
project has, and ``pyusb`` for USB (``adb-shell`` brings ``rsa`` and
``pyasn1`` and had its last release in 2023).
"""

from __future__ import annotations

from attest.transports.adb.connection import AdbConnection, AdbLimits, AdbStream, DeviceBanner
from attest.transports.adb.keys import (
    DockAdbKey,
    android_fingerprint,
    decode_android_pubkey,
    encode_android_pubkey,
    parse_pubkey_line,
    sign_token,
    verify_token,
)
from attest.transports.adb.link import Link, LinkTimeoutError
from attest.transports.adb.shell import ShellDecoder, ShellResult, command_line
from attest.transports.adb.sync import SyncEntry, SyncSession
from attest.transports.adb.target import AdbTarget
from attest.transports.adb.usb import UsbLink
from attest.transports.adb.wire import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_STLS,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    CONNECT_PAYLOAD_MAX,
    HEADER,
    MAX_PAYLOAD,
    TOKEN_SIZE,
    VERSION,
    VERSION_MIN,
    VERSION_SKIP_CHECKSUM,
    Header,
    check_payload,
    decode_header,
)
from attest.transports.adb.wire import encode as encode_message

__all__ = [
    "AUTH_RSAPUBLICKEY",
    "AUTH_SIGNATURE",
    "AUTH_TOKEN",
    "A_AUTH",
    "A_CLSE",
    "A_CNXN",
    "A_OKAY",
    "A_OPEN",
    "A_STLS",
    "A_WRTE",
    "CONNECT_PAYLOAD_MAX",
    "HEADER",
    "MAX_PAYLOAD",
    "TOKEN_SIZE",
    "VERSION",
    "VERSION_MIN",
    "VERSION_SKIP_CHECKSUM",
    "AdbConnection",
    "AdbLimits",
    "AdbStream",
    "AdbTarget",
    "DeviceBanner",
    "DockAdbKey",
    "Header",
    "Link",
    "LinkTimeoutError",
    "ShellDecoder",
    "ShellResult",
    "SyncEntry",
    "SyncSession",
    "UsbLink",
    "android_fingerprint",
    "check_payload",
    "command_line",
    "decode_android_pubkey",
    "decode_header",
    "encode_android_pubkey",
    "encode_message",
    "parse_pubkey_line",
    "sign_token",
    "verify_token",
]
