"""SSH to a companion computer: target, pinned host keys, login, command streams, SFTP.

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first; each imports only those above it):

* :mod:`attest.transports.ssh.errors`     -- failures as TransportError (:func:`translated`), :func:`printable`
* :mod:`attest.transports.ssh.target`     -- :class:`SshTarget`, the parsed ``ssh://`` target
* :mod:`attest.transports.ssh.hostkeys`   -- :class:`HostKeyPins` and a known_hosts reader that honours ``@revoked``
* :mod:`attest.transports.ssh.login`      -- the dock's keys (identity file or ssh-agent) and public-key login
* :mod:`attest.transports.ssh.stream`     -- device commands (:class:`RemoteCommand`), a ``cat`` stream split by size
* :mod:`attest.transports.ssh.sftp`       -- a pipelined SFTP v3 client (:class:`SftpSession`), a package
* :mod:`attest.transports.ssh.connection` -- :class:`SshConnection`: pinned host key, key-only login, bounded waits
"""

from __future__ import annotations

import sys


def _import_paramiko_without_invoke() -> None:
    """Import paramiko without invoke, which its ``paramiko.config`` imports at once (35 ms of every run).

    paramiko uses invoke only to run ``Match exec`` commands of an OpenSSH
    client config, which this package never reads (it takes the host key, the
    key and the target from its own options). A ``None`` in ``sys.modules``
    makes ``import invoke`` fail, which paramiko expects (invoke is optional
    to it); the entry is removed again, so that anything else in the process
    may still import invoke.
    """
    if "paramiko" in sys.modules or "invoke" in sys.modules:
        return
    sys.modules["invoke"] = None  # type: ignore[assignment]
    try:
        import paramiko  # noqa: F401 (imported here, under the block, before any module below)
    finally:
        if "invoke" in sys.modules and sys.modules["invoke"] is None:
            del sys.modules["invoke"]


_import_paramiko_without_invoke()

from attest.transports.ssh.connection import CIPHERS, SshConnection  # noqa: E402
from attest.transports.ssh.errors import printable, translated  # noqa: E402
from attest.transports.ssh.hostkeys import HostKeyPins, KnownHostKeys, fingerprint, load_known_hosts  # noqa: E402
from attest.transports.ssh.sftp import (  # noqa: E402
    FileReads,
    LinkReads,
    SftpAttrs,
    SftpLimits,
    SftpProtocolError,
    SftpSession,
)
from attest.transports.ssh.stream import RemoteCommand, hash_cat_stream  # noqa: E402
from attest.transports.ssh.target import SshTarget  # noqa: E402

__all__ = [
    "CIPHERS",
    "FileReads",
    "HostKeyPins",
    "KnownHostKeys",
    "LinkReads",
    "RemoteCommand",
    "SftpAttrs",
    "SftpLimits",
    "SftpProtocolError",
    "SftpSession",
    "SshConnection",
    "SshTarget",
    "fingerprint",
    "hash_cat_stream",
    "load_known_hosts",
    "printable",
    "translated",
]
