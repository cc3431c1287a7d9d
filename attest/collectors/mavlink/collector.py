"""Measure a MAVLink flight controller (ArduPilot, PX4) over a serial port or ``socket://``.

Steps, each bounded by the transport timeout:

1. identity: HEARTBEAT, then AUTOPILOT_VERSION requested with
   MAV_CMD_REQUEST_MESSAGE (legacy REQUEST_AUTOPILOT_CAPABILITIES as a
   fallback). If the baseline's device selector does not match, nothing
   else is read: the verifier reports the wrong baseline (exit 4);
2. parameters (``fc/params`` and one ``param/NAME`` value each; with the
   ``param-values`` part also one ``param/NAME`` component each);
3. FTP files below the configured roots (``ftp/<path>``), hashed on the dock;
4. ``@SYS/flash.bin`` (``fc/flash``, ``fc/firmware``, ``fc/app-crc``);
5. with ``--bootloader``: the application read through the bootloader.

Settings (the baseline's ``collection`` object): ``selection`` globs over
component names and ``param/NAME``; ``measure``, the parts to produce;
``files``, the FTP roots; ``firmware``: ``image_size`` and ``app_start`` (the
boot address) from image baselines, and ``crc_only``, the signers'
acceptance of a firmware pinned by its CRC-32 alone
(:mod:`attest.firmware.evidence`: without it such evidence is unreadable).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from attest.collectors.base import Collector
from attest.collectors.mavlink.bootloader import measure_via_bootloader
from attest.collectors.mavlink.measure import (
    Measured,
    expected_flash_size,
    measure_files,
    measure_flash,
    measure_params,
)
from attest.errors import BaselineError, CollectionError, ConfigError, TransportError
from attest.firmware import BootloaderClient, judge_firmware_evidence
from attest.mavlink import CAP_FTP, Frame, FtpClient, Identity, Link, decode, identity_from_messages, mavlink
from attest.model import Component, DeviceIdentity, Evidence, Method
from attest.progress import Progress
from attest.selection import Selection
from attest.targets import TargetOptions
from attest.transports import SerialTransport

__all__ = ["DEFAULT_FILE_ROOTS", "PARTS", "MavlinkCollector", "from_target"]

#: Every part a baseline can ask for (``param-values``: one component per parameter, with its value).
PARTS = ("identity", "params", "param-values", "files", "flash", "firmware", "app-crc")
#: What ``baseline create`` measures on a live controller by default. Baselines from before
#: ``param-values`` still verify: their parameters are compared by ``fc/params`` alone.
DEFAULT_PARTS = ("identity", "params", "param-values", "files", "flash", "firmware")
#: Where scripts and built-in files live (reference §7): the SD card on ChibiOS, the working
#: directory on SITL and Linux boards, and the firmware's embedded ROMFS.
DEFAULT_FILE_ROOTS = ("/APM/scripts", "scripts", "@ROMFS")
_MAV_CMD_REQUEST_MESSAGE = 512
_MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES = 520
_MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN = 246
_ARMED = 128  # MAV_MODE_FLAG_SAFETY_ARMED
_RESULTS = {0: "ACCEPTED", 1: "TEMPORARILY_REJECTED", 2: "DENIED", 3: "UNSUPPORTED", 4: "FAILED"}


def from_target(target: str, options: TargetOptions) -> Collector:
    """The collector for a serial or ``socket://`` target (called by :func:`attest.collectors.open_collector`)."""
    return MavlinkCollector(target, options)


@dataclass(frozen=True)
class _Settings:
    """A baseline's ``collection`` object, checked (see the module docstring)."""

    selection: Selection
    parts: tuple[str, ...]
    roots: tuple[str, ...]
    image_size: int | None
    app_start: int | None


#: Keys of ``collection.firmware``: image baselines' length and boot address, and the CRC-only acceptance.
_FIRMWARE_KEYS = {"image_size", "app_start", "crc_only"}


def _settings(settings: Mapping[str, Any]) -> _Settings:
    """Check the collection settings.

    Raises:
        BaselineError: any key of the wrong shape, or an unknown key in ``firmware``.
    """
    selection = Selection.from_json(settings.get("selection", {"include": ["**"]}))
    parts = settings.get("measure", list(DEFAULT_PARTS))
    roots = settings.get("files", list(DEFAULT_FILE_ROOTS))
    fw = settings.get("firmware", {})
    if not isinstance(parts, list) or not all(isinstance(p, str) and p in PARTS for p in parts):
        raise BaselineError(f"collection.measure: expected a list of {', '.join(PARTS)}")
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        raise BaselineError("collection.files: expected a list of FTP directory paths")
    if not isinstance(fw, dict) or not set(fw) <= _FIRMWARE_KEYS:
        raise BaselineError(f"collection.firmware: expected an object with at most {', '.join(sorted(_FIRMWARE_KEYS))}")
    size, start, crc_only = fw.get("image_size"), fw.get("app_start"), fw.get("crc_only", False)
    if size is not None and (type(size) is not int or size <= 0):
        raise BaselineError("collection.firmware.image_size: expected a positive integer")
    if start is not None and (type(start) is not int or start < 0 or size is None):
        raise BaselineError("collection.firmware.app_start: expected a non-negative integer, with image_size")
    if type(crc_only) is not bool:
        raise BaselineError("collection.firmware.crc_only: expected true or false")
    return _Settings(selection, tuple(parts), tuple(roots), size, start)


class MavlinkCollector(Collector):
    """A flight controller reached through a serial port or pyserial URL."""

    kind = "mavlink"

    def __init__(self, target: str, options: TargetOptions) -> None:
        """Measure the controller at ``target`` (opened only when collecting)."""
        self._target = target
        self._opts = options

    def settings_extras(self) -> dict[str, Any]:
        """``measure`` (plus ``app-crc`` with ``--bootloader``) and the FTP ``files`` roots."""
        parts = [*DEFAULT_PARTS, "app-crc"] if self._opts.bootloader else list(DEFAULT_PARTS)
        return {"measure": parts, "files": list(DEFAULT_FILE_ROOTS)}

    def selector(self, evidence: Evidence, *, pin_instance: bool = False) -> dict[str, str]:
        """The board id; with ``pin_instance`` also the airframe's uid.

        Raises:
            ConfigError: ``pin_instance`` but the controller reports no uid.
        """
        facts = evidence.device.facts
        out = {"board_id": facts["board_id"]}
        if pin_instance:
            if not facts.get("uid"):
                raise ConfigError("--pin-device: this controller reports no unique id (uid/uid2 are zero)")
            out["uid"] = facts["uid"]
        return out

    def stable_id(
        self, target: str, device_match: Mapping[str, str], *, expected: Mapping[str, Component] | None = None
    ) -> str:
        """The id a pass records (``ardupilot-board140-<uid>``) when the baseline pins the airframe, else the port.

        Before AUTOPILOT_VERSION is read, only a baseline that pins the uid
        (``--pin-device``) and holds ``fc/identity`` (the autopilot) names the
        controller; otherwise the target: a serial path made absolute but not
        resolved (``/dev/serial/by-id/...`` names the board, its ``/dev/ttyACM0``
        does not), a ``socket://`` URL as given.
        """
        reported = expected.get("fc/identity") if expected is not None else None
        autopilot = reported.attributes.get("autopilot") if reported is not None else None
        board, uid = device_match.get("board_id"), device_match.get("uid")
        if board and uid and isinstance(autopilot, str):
            return f"{autopilot}-board{board}-{uid}"
        return target if "://" in target else os.path.abspath(target)

    def _collect(
        self,
        settings: Mapping[str, Any],
        *,
        nonce: str,
        device_match: Mapping[str, str],
        progress: Progress,
        expected: Mapping[str, Component] | None,
    ) -> Evidence:
        # Only a progress total (the flash read's percentage): every read is bounded by the protocol's own limits.
        flash_size = expected_flash_size(expected)
        cfg = _settings(settings)
        opts = self._opts
        if opts.bootloader and not {"firmware", "app-crc"} & set(cfg.parts):
            raise ConfigError("--bootloader: this baseline measures nothing through the bootloader")
        transport = SerialTransport.open(self._target, baud=opts.baud, timeout=opts.timeout)
        try:
            link = Link(transport, timeout=opts.timeout)
            heartbeat = link.find_autopilot()
            ident = identity_from_messages(heartbeat, _autopilot_version(link))
            device = DeviceIdentity(kind=self.kind, id=_device_id(ident), target=self._target, facts=ident.facts)
            self.learned = device  # any later failure names this controller as a pass would
            got = Measured()
            if cfg.selection.selects("fc/identity") and "identity" in cfg.parts:
                got.components["fc/identity"] = _identity_component(ident)
            got.values.update(_identity_values(ident))
            if any(ident.facts.get(k) != v for k, v in device_match.items()):
                # The wrong controller for this baseline: read nothing more (the verifier says untrusted).
                return _evidence(device, got, nonce)
            got.merge(self._measure_live(link, ident=ident, cfg=cfg, progress=progress, flash_size=flash_size))
            if opts.bootloader:
                transport = self._measure_bootloader(
                    link, heartbeat=heartbeat, ident=ident, cfg=cfg, progress=progress, got=got
                )
            got.notes["frames_rejected"] = link.rejected
            got.notes["frames_foreign"] = link.foreign
            # A firmware pinned only by a CRC-32 is labelled so, or refused unless the baseline accepted it.
            got.components, why = judge_firmware_evidence(got.components, settings)
            if why is not None:
                got.notes["firmware_evidence"] = why
            return _evidence(device, got, nonce)
        finally:
            transport.close()

    def _measure_live(
        self, link: Link, *, ident: Identity, cfg: _Settings, progress: Progress, flash_size: int | None = None
    ) -> Measured:
        got = Measured()
        ftp = FtpClient(link) if ident.capabilities & CAP_FTP else None
        if ftp is not None:
            ftp.reset()
        else:
            got.notes["ftp"] = "not offered: no files, flash or param.pck"
        if "params" in cfg.parts and cfg.selection.selects("fc/params"):
            got.merge(measure_params(link, ftp, ident, cfg.selection, progress, values="param-values" in cfg.parts))
        if ftp is None:
            return got
        if "files" in cfg.parts:
            got.merge(measure_files(ftp, cfg.roots, cfg.selection, progress))
        flash_parts = [
            p for p in cfg.parts if p == "flash" or (p in ("firmware", "app-crc") and not self._opts.bootloader)
        ]
        got.merge(
            measure_flash(
                ftp,
                flash_parts,
                cfg.selection,
                progress,
                image_size=cfg.image_size,
                app_start=cfg.app_start,
                expected_size=flash_size,
            )
        )
        if ftp.takeover is not None:  # another client's stale FTP session was met (and taken over, or not)
            got.notes["ftp_session"] = ftp.takeover
        return got

    def _measure_bootloader(
        self,
        link: Link,
        *,
        heartbeat: Any,
        ident: Identity,
        cfg: _Settings,
        progress: Progress,
        got: Measured,
    ) -> SerialTransport:
        """Reboot into the bootloader, measure, boot the firmware again; return the port now open."""
        opts = self._opts
        if int(heartbeat.base_mode) & _ARMED:
            raise CollectionError("--bootloader: the controller is armed and refuses to reboot; disarm it first")
        result = link.command(_MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 3, what="reboot to bootloader (246)")
        if result != 0:
            raise CollectionError(
                f"--bootloader: the controller refused to reboot into its bootloader "
                f"({_RESULTS.get(result, result)}; ArduPilot refuses while armed)"
            )
        link.transport.close()
        time.sleep(0.2)  # the USB device goes away and comes back
        transport = SerialTransport.reopen(self._target, baud=opts.baud, timeout=opts.timeout)
        bl = BootloaderClient(transport, timeout=opts.timeout)
        bl.sync()
        progress.start(None, "bootloader")
        wanted = [p for p in cfg.parts if p in ("firmware", "app-crc") and cfg.selection.selects(f"fc/{p}")]
        got.merge(
            measure_via_bootloader(
                bl, parts=wanted, board_id=ident.board_id, image_size=cfg.image_size, on_bytes=progress.advance
            )
        )
        bl.boot()
        transport.close()
        time.sleep(0.2)
        transport = SerialTransport.reopen(self._target, baud=opts.baud, timeout=opts.timeout)
        try:
            Link(transport, timeout=opts.timeout).find_autopilot()
        except TransportError as e:
            raise TransportError(f"the controller did not come back from its bootloader: {e}") from e
        return transport


def _autopilot_version(link: Link) -> Any:
    """Request AUTOPILOT_VERSION (again every half second: the request, ACK or answer may be lost)."""
    modern = mavlink.MAVLink_command_long_message(
        link.target_system, link.target_component, _MAV_CMD_REQUEST_MESSAGE, 0,
        mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    legacy = mavlink.MAVLink_command_long_message(
        link.target_system, link.target_component, _MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 0, 1, 0, 0, 0, 0, 0, 0
    )
    use_legacy = False

    def accept(frame: Frame) -> Any:
        nonlocal use_legacy
        if frame.msgid == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            return decode(frame)
        if frame.msgid == mavlink.MAVLINK_MSG_ID_COMMAND_ACK:
            ack = decode(frame)
            if ack.command == _MAV_CMD_REQUEST_MESSAGE and ack.result not in (0, 5):  # older firmware
                use_legacy = True
        return None

    return link.wait(
        accept, what="AUTOPILOT_VERSION", resend=lambda: link.send(legacy if use_legacy else modern), every=0.5
    )


def _device_id(ident: Identity) -> str:
    f = ident.facts
    return f"{f['autopilot']}-board{f['board_id']}" + (f"-{ident.uid}" if ident.uid else "")


def _identity_component(ident: Identity) -> Component:
    f = ident.facts
    attrs: dict[str, str | int | bool | None] = {
        "autopilot": f["autopilot"],
        "flight_sw_version": f["flight_sw_version"],
        "git_hash": f["git_hash"],
        "board_id": int(f["board_id"]),
    }
    return Component("fc/identity", "identity", ident.digest(), attrs, Method.DEVICE_REPORTED)


def _identity_values(ident: Identity) -> dict[str, str | int | float]:
    """``identity/<fact>`` values for rules, as the exact text reported (rules compare identity as text)."""
    return {f"identity/{k}": v for k, v in ident.facts.items() if k != "uid"}


def _evidence(device: DeviceIdentity, got: Measured, nonce: str) -> Evidence:
    return Evidence(
        device=device,
        components=dict(sorted(got.components.items())),
        nonce=nonce,
        collected_at=datetime.now(UTC),
        values=dict(sorted(got.values.items())),
        findings=tuple(got.findings),
        notes=dict(got.notes),
    )
