"""A pipelined SFTP v3 client: wire format, tree walk, parallel file reads.

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first; each imports only those above it):

* :mod:`attest.transports.ssh.sftp.wire`    -- the SFTP v3 wire format: codes, reply parsing, request encoding
* :mod:`attest.transports.ssh.sftp.channel` -- the request/reply pump: pipelined requests, bounded waits
* :mod:`attest.transports.ssh.sftp.walk`    -- the bounded tree walk and symlink reads, over a channel
* :mod:`attest.transports.ssh.sftp.paths`   -- per-path lookups many at once: attributes, real paths, small files
* :mod:`attest.transports.ssh.sftp.read`    -- the read scheduler that hashes many files at once, over a channel
* :mod:`attest.transports.ssh.sftp.session` -- :class:`SftpSession` and :class:`SftpLimits`: walk, stat, hash
"""

from __future__ import annotations

from attest.transports.ssh.sftp.read import FileReads
from attest.transports.ssh.sftp.session import SftpLimits, SftpSession
from attest.transports.ssh.sftp.walk import LinkReads
from attest.transports.ssh.sftp.wire import SftpAttrs, SftpProtocolError

__all__ = ["FileReads", "LinkReads", "SftpAttrs", "SftpLimits", "SftpProtocolError", "SftpSession"]
