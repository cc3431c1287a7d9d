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

from attest.transports.ssh.connection import CIPHERS, SshConnection
from attest.transports.ssh.errors import printable, translated
from attest.transports.ssh.hostkeys import HostKeyPins, KnownHostKeys, fingerprint, load_known_hosts
from attest.transports.ssh.sftp import FileReads, SftpAttrs, SftpLimits, SftpProtocolError, SftpSession
from attest.transports.ssh.stream import RemoteCommand, hash_cat_stream
from attest.transports.ssh.target import SshTarget

__all__ = [
    "CIPHERS",
    "FileReads",
    "HostKeyPins",
    "KnownHostKeys",
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
