"""The controller's account of itself: system properties, the identity facts, ``android/build`` and its values.

Each property is read with its own ``getprop KEY`` (one value per command: a
value that holds a newline or ``]: [`` cannot forge another property, as it
could in the ``[key]: [value]`` listing). All of it is **device-reported**: a
compromised OS can report a green, locked, patched build. What it is worth
is in docs/threat-model.md.

* identity facts (the baseline's device selector): ``manufacturer``,
  ``model``, and ``serial`` (``ro.serialno``, else ``ro.boot.serialno``) when
  it is a plain serial number;
* the component ``android/build`` (kind ``android-build``): the build
  fingerprint, security patch level, verified-boot state, bootloader lock,
  ``ro.debuggable``, build type, SDK level, model; its digest is SHA-256 of
  their canonical JSON, so any change (an OTA update, an unlocked bootloader)
  is drift;
* values for rules: ``android/model``, ``android/manufacturer``,
  ``android/fingerprint``, ``android/security_patch`` (text, ``YYYY-MM-DD``),
  ``android/verified_boot`` (text: green, yellow, orange, red),
  ``android/bootloader_locked`` (1 or 0), ``android/debuggable`` (number),
  ``android/sdk`` (number), ``android/build_type`` (text). A property the
  device does not have gives no value (a rule on it is then ``missing``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from attest.collectors.adb.commands import run
from attest.model import Component, Method
from attest.transports.adb import AdbConnection

__all__ = ["BUILD", "PROPERTIES", "DeviceFacts", "read_device_facts"]

#: The component holding the build facts.
BUILD = "android/build"

#: Fact name -> the system property it comes from.
PROPERTIES = {
    "manufacturer": "ro.product.manufacturer",
    "model": "ro.product.model",
    "fingerprint": "ro.build.fingerprint",
    "security_patch": "ro.build.version.security_patch",
    "sdk": "ro.build.version.sdk",
    "verified_boot": "ro.boot.verifiedbootstate",
    "flash_locked": "ro.boot.flash.locked",
    "vbmeta_device_state": "ro.boot.vbmeta.device_state",
    "debuggable": "ro.debuggable",
    "build_type": "ro.build.type",
    "serial": "ro.serialno",
    "boot_serial": "ro.boot.serialno",
}
#: The longest property value read (Android's long ``ro.`` values are a few hundred bytes).
_MAX_VALUE = 4096
_SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NUMBER = re.compile(r"-?[0-9]{1,15}")
#: The facts in ``android/build`` (not the serial: one baseline fits every controller of a model).
_BUILD_FACTS = (
    "manufacturer",
    "model",
    "fingerprint",
    "security_patch",
    "sdk",
    "verified_boot",
    "flash_locked",
    "vbmeta_device_state",
    "debuggable",
    "build_type",
)


@dataclass(frozen=True)
class DeviceFacts:
    """What the controller's properties say.

    Attributes:
        props: fact name -> value as reported ("" when the property is unset).
    """

    props: dict[str, str]

    @property
    def serial(self) -> str | None:
        """The serial number, when the device reports a plain one (letters, digits, ``._:-``)."""
        for key in ("serial", "boot_serial"):
            value = self.props.get(key, "")
            if _SERIAL.fullmatch(value):
                return value
        return None

    @property
    def sdk(self) -> int | None:
        """``ro.build.version.sdk`` as a number (for choosing the signing scheme Android verifies)."""
        value = self.props.get("sdk", "")
        return int(value) if _NUMBER.fullmatch(value) else None

    @property
    def bootloader_locked(self) -> int | None:
        """1 locked, 0 unlocked, ``None`` unknown: from ``ro.boot.flash.locked`` and ``ro.boot.vbmeta.device_state``.

        Either one saying unlocked is unlocked; locked needs one saying locked and none saying otherwise.
        """
        flash, state = self.props.get("flash_locked", ""), self.props.get("vbmeta_device_state", "")
        if flash == "0" or state == "unlocked" or (flash and flash != "1") or (state and state != "locked"):
            return 0 if flash or state else None
        return 1 if flash == "1" or state == "locked" else None

    def identity(self) -> dict[str, str]:
        """The identity facts: ``manufacturer``, ``model``, and ``serial`` when there is a plain one."""
        facts = {"manufacturer": self.props.get("manufacturer", ""), "model": self.props.get("model", "")}
        if self.serial is not None:
            facts["serial"] = self.serial
        return facts

    def values(self) -> dict[str, str | int | float]:
        """The ``android/...`` values rules judge (see the module docstring)."""
        out: dict[str, str | int | float] = {}
        for fact in ("manufacturer", "model", "fingerprint", "security_patch", "verified_boot", "build_type"):
            if self.props.get(fact):
                out[f"android/{fact}"] = self.props[fact]
        for fact in ("sdk", "debuggable"):
            if _NUMBER.fullmatch(self.props.get(fact, "")):
                out[f"android/{fact}"] = int(self.props[fact])
        locked = self.bootloader_locked
        if locked is not None:
            out["android/bootloader_locked"] = locked
        return out

    def build_component(self) -> Component:
        """``android/build``: the build facts, device-reported, digest over their canonical JSON."""
        attrs: dict[str, str | int | bool | None] = {f: self.props.get(f, "") for f in _BUILD_FACTS}
        text = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return Component(BUILD, "android-build", digest, attrs, Method.DEVICE_REPORTED)


def read_device_facts(conn: AdbConnection) -> DeviceFacts:
    """Read every property of :data:`PROPERTIES`, one ``getprop KEY`` each.

    Raises:
        CommandFailedError: ``getprop`` failed.
        TransportError: a value longer than 4 KiB, or the link failed.
    """
    props: dict[str, str] = {}
    for fact, key in PROPERTIES.items():
        out = run(conn, ["getprop", key], max_output=_MAX_VALUE)
        props[fact] = out.removesuffix(b"\n").decode("utf-8", "replace")
    return DeviceFacts(props)
