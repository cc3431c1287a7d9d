"""The companion-computer collector over SSH: listing, pull and remote hashing, the audit.

Outside this package, import the names below from here, never from the modules;
:func:`from_target` is what :func:`attest.collectors.open_collector` calls for
an ``ssh://`` target. Modules, one job each (lower ones first; each imports
only those above it):

* :mod:`attest.collectors.ssh.feed`       -- paths handed to a device command while the walk finds them
* :mod:`attest.collectors.ssh.tools`      -- the device's programs: by absolute path, measured over SFTP first
* :mod:`attest.collectors.ssh.listing`    -- the tree listed over SFTP, as the directory collector lists one
* :mod:`attest.collectors.ssh.audit`      -- remote mode's nonce-chosen sample the dock re-reads over SFTP
* :mod:`attest.collectors.ssh.devicehash` -- the device's sha256sum or openssl, batched, fed while the walk lists
* :mod:`attest.collectors.ssh.pull`       -- pull mode: the dock reads every file over SFTP, the device hashes all too
* :mod:`attest.collectors.ssh.remote`     -- remote mode: the device hashes, the dock audits
* :mod:`attest.collectors.ssh.blockdev`   -- device numbers: the device's stat, checked against sysfs
* :mod:`attest.collectors.ssh.xattrs`     -- extended attributes from the device's getfattr, or "not measured"
* :mod:`attest.collectors.ssh.collector`  -- :class:`SshCollector`: options in, one measurement out
"""

from __future__ import annotations

from attest.collectors.sampling import audit_sample
from attest.collectors.ssh.collector import METHODS, SshCollector, from_target

__all__ = ["METHODS", "SshCollector", "audit_sample", "from_target"]
