"""The Android controller collector over ADB: build facts, packages, APK digests, signing certificates.

Outside this package, import the names below from here, never from the modules;
:func:`from_target` is what :func:`attest.collectors.open_collector` calls for
an ``adb://`` or ``adb+tcp://`` target. Modules, one job each (lower ones
first; each imports only those above it):

* :mod:`attest.collectors.adb.limits`     -- :class:`AndroidLimits`: what a device may make the dock list and read
* :mod:`attest.collectors.adb.commands`   -- device commands as quoted argv; a failed one
* :mod:`attest.collectors.adb.device`     -- the properties: identity facts, ``android/build``, ``android/...`` values
* :mod:`attest.collectors.adb.packages`   -- ``pm``/``dumpsys``/``cmd appops`` parsers, names, ``package/<name>``
* :mod:`attest.collectors.adb.certs`      -- ``cert/<name>``: the seam to :mod:`attest.apk`
* :mod:`attest.collectors.adb.apks`       -- APKs read over sync: digest and certificate from the same bytes
* :mod:`attest.collectors.adb.devicehash` -- remote mode: the device's ``sha256sum``, the audit sample
* :mod:`attest.collectors.adb.measure`    -- :class:`~attest.collectors.adb.measure.Measurement`: packages, APKs, certs
* :mod:`attest.collectors.adb.collector`  -- :class:`AdbCollector`: options in, one measurement out

What is measured and how rules are written: docs/android.md.
"""

from __future__ import annotations

from attest.collectors.adb.collector import METHODS, AdbCollector, device_id, from_target
from attest.collectors.adb.limits import AndroidLimits
from attest.collectors.sampling import audit_sample

__all__ = ["METHODS", "AdbCollector", "AndroidLimits", "audit_sample", "device_id", "from_target"]
