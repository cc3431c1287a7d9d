"""Which device a device node is: what the device's ``stat`` says, checked against the kernel's own account.

SFTP carries no device numbers, so a node's major/minor come from the
device's ``stat`` (:func:`~attest.collectors.ssh.listing.read_device_numbers`):
device-reported, and the evidence notes say so for every node
(``device_reported_attributes``). :func:`check_block_devices` then checks that
claim through another way into the device, SFTP reads of sysfs:

* ``/sys/dev/block/MAJ:MIN/dev`` must exist and echo the numbers: ``stat``
  named a block device the kernel has;
* in pull mode, the bytes the dock read through the node must be exactly as
  many as the kernel says that device holds (512 x ``/sys/dev/block/MAJ:MIN/size``).

A failure is a critical ``device_lied`` finding. What this cannot see: which
device the node really opens. A node repointed at a spare partition of the
same size holding the approved image (an A/B slot), with a ``stat`` that
lies about that one path, passes; docs/ssh.md says so. Partition UUIDs
(``/dev/disk/by-partuuid``) would not help: they are links by kernel name,
and the name comes from the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attest.model import Component, Finding, FindingKind, Severity
from attest.transports.ssh import SftpSession, printable

__all__ = ["SYS_DEV_BLOCK", "check_block_devices", "label_device_numbers"]

#: The kernel's index of block devices by number.
SYS_DEV_BLOCK = b"/sys/dev/block"


def label_device_numbers(
    components: Mapping[str, Component], devices: list[tuple[str, bytes]], notes: dict[str, Any]
) -> None:
    """Record in the notes that every device node's major/minor are device-reported."""
    names = sorted(name for name, _ in devices if "major" in components[name].attributes)
    if names:
        notes["device_reported_attributes"] = {
            "attributes": ["major", "minor"],
            "by": "the device's stat",
            "components": names,
        }


def check_block_devices(
    sftp: SftpSession,
    components: Mapping[str, Component],
    devices: list[tuple[str, bytes]],
    *,
    lengths: Mapping[bytes, int] | None,
    notes: dict[str, Any],
) -> tuple[Finding, ...]:
    """Check each block device's numbers (and, given ``lengths``, its size) against sysfs; returns DEVICE_LIED findings.

    Args:
        sftp: the session to read sysfs with.
        components: the components, with major/minor from the device's ``stat``.
        devices: device nodes, ``(name, path)``.
        lengths: path -> bytes the dock read through the node (pull mode), or ``None``.
        notes: the evidence notes; ``block_devices`` is set when there are any.

    Raises:
        TransportError: the connection dropped or the device stopped answering.
    """
    blocks = []
    for name, path in devices:
        c = components[name]
        major, minor = c.attributes.get("major"), c.attributes.get("minor")
        if c.kind == "block-device" and isinstance(major, int) and isinstance(minor, int):
            blocks.append((name, path, f"{major}:{minor}"))
    if not blocks:
        return ()
    sysfs = sftp.stat_paths([SYS_DEV_BLOCK], follow=True)[SYS_DEV_BLOCK]
    if isinstance(sysfs, str):
        notes["block_devices"] = {"checked": [], "why_not": f"{SYS_DEV_BLOCK.decode()}: {sysfs}"}
        return ()
    wanted = [SYS_DEV_BLOCK + f"/{numbers}/{leaf}".encode() for _, _, numbers in blocks for leaf in ("dev", "size")]
    read = sftp.read_small(wanted)
    findings = []
    checked = []
    for name, path, numbers in blocks:
        base = SYS_DEV_BLOCK + f"/{numbers}/".encode()
        dev, size = read[base + b"dev"], read[base + b"size"]
        problem = None
        if isinstance(dev, str) or dev.strip() != numbers.encode():
            problem = (
                f"the device's stat says {numbers}, but the kernel has no block device {numbers} "
                f"({dev if isinstance(dev, str) else printable(dev)})"
            )
        elif lengths is not None and path in lengths:
            sectors = size.strip() if isinstance(size, bytes) else b""
            if not sectors.isdigit():
                problem = f"the kernel's size of {numbers} could not be read ({printable(size)})"
            elif int(sectors) * 512 != lengths[path]:
                problem = (
                    f"the dock read {lengths[path]} bytes through this node, but the kernel says {numbers}, "
                    f"the device the device's stat named, holds {int(sectors) * 512}"
                )
        if problem is None:
            checked.append(name)
            continue
        findings.append(
            Finding(
                name,
                FindingKind.DEVICE_LIED,
                Severity.CRITICAL,
                expected=f"block device {numbers}",
                actual=problem,
                detail="which device a node opens is known only from the device's stat; "
                "the kernel's own account (sysfs, read over SFTP) disagrees",
            )
        )
    notes["block_devices"] = {"checked": checked, "by": "sysfs over SFTP", "size_checked": lengths is not None}
    return tuple(findings)
