"""How much an Android controller may make the dock list, run, read and keep: :class:`AndroidLimits`.

A device that claims 10,000 packages or a 10 GB APK costs a bounded amount:
``pm list packages`` is one command whose output is capped; per-package
commands run only for the packages a baseline names when verifying (and for
at most :attr:`AndroidLimits.max_packages` when creating one); an APK far
larger than the baseline's is not read (:func:`attest.collectors.adb.apks.read_decision`),
and no read yields more than the size the device's ``STAT`` gave, which the
sync protocol carries in 32 bits. Every wait is bounded by the transport
(:class:`~attest.transports.adb.AdbLimits`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AndroidLimits"]


@dataclass(frozen=True)
class AndroidLimits:
    """Bounds on one Android measurement.

    Attributes:
        max_listed: lines ``pm list packages`` may print.
        list_output: bytes it may print.
        max_packages: packages measured in full when creating a baseline (a real controller has a few hundred).
        command_output: bytes any other command may print (``dumpsys package NAME`` is tens of KiB).
        max_apks: APK files per package (base and splits).
        max_apk: the largest APK read (a ZIP without ZIP64, as Android requires, stays below 4 GiB;
            store apps cap theirs far lower).
        max_permissions: permissions per package.
        max_ops: app-ops per package.
        apk_head: bytes kept from the start of each APK for its v1 signature files.
        apk_tail: bytes kept from its end for the signing block and central directory.
        max_spool: the largest APK read a second time, into a temporary file, when its
            signature data lies between the head and the tail.
        read_margin: when verifying, an APK up to twice the baseline's size plus this is read.
        hash_batch: APK paths per ``sha256sum`` command in remote mode.
        hash_batch_bytes: bytes the device hashes per ``sha256sum`` command.
        min_device_rate: the slowest the device may hash (bytes/s) before it counts as stalled.
    """

    max_listed: int = 20_000
    list_output: int = 16 << 20
    max_packages: int = 2_000
    command_output: int = 4 << 20
    max_apks: int = 64
    max_apk: int = 1 << 30
    max_permissions: int = 1_024
    max_ops: int = 256
    apk_head: int = 4 << 20
    apk_tail: int = 4 << 20
    max_spool: int = 1 << 30
    read_margin: int = 16 << 20
    hash_batch: int = 64
    hash_batch_bytes: int = 512 << 20
    min_device_rate: float = 4e6
