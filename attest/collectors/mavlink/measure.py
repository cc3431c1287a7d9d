"""Measure a flight controller's parameters, FTP files and flash over a live MAVLink link.

Each function returns finished :class:`~attest.model.Component` objects (with
``error`` set when a measurement failed, never silently left out) and, where
the device's own report can be checked against bytes the dock read,
``device_lied`` findings.

What each component proves:

* ``fc/params`` (device-reported): the values the running firmware reports;
* ``param/NAME`` (device-reported, kind ``parameter``): each of those values,
  so a change is named;
* ``ftp/<path>`` (dock-read): SHA-256 of the bytes the dock received; the
  device's CalcFileCRC32 is only a consistency check (a CRC32 is forgeable);
* ``fc/flash``, ``fc/firmware``, ``fc/app-crc`` (dock-read from
  ``@SYS/flash.bin``): the whole flash, the application at the boot address
  (where the bootloader starts it; found by its verified app descriptor, and
  required to sit at the offset it is linked for), and that application's CRC
  in the form a firmware-image baseline records.

:class:`Measured` holds what one step found; the collector merges every
step's, the bootloader's (:mod:`attest.collectors.mavlink.bootloader`) included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from attest.errors import CollectionError
from attest.firmware import FirmwareFormatError, app_crc_digest, application_at_boot, raw_crc32
from attest.mavlink import (
    AUTOPILOT_ARDUPILOT,
    CAP_PARAM_ENCODE_BYTEWISE,
    DirEntry,
    FtpClient,
    FtpNakError,
    FtpPathError,
    Identity,
    Link,
    Nak,
    Param,
    ParamFormatError,
    decode_pck,
    fetch_params,
    params_digest,
)
from attest.model import Component, Finding, FindingKind, Method, Severity
from attest.progress import Progress
from attest.selection import Selection

__all__ = [
    "Measured",
    "expected_flash_size",
    "file_component_name",
    "measure_files",
    "measure_flash",
    "measure_params",
]

PARAM_FILE = "@PARAM/param.pck"
FLASH_FILE = "@SYS/flash.bin"
#: How deep a file walk below a root goes.
MAX_DEPTH = 8
#: The most directory entries (skip entries included) one walk looks at (a hostile controller could list forever).
MAX_WALK_ENTRIES = 20_000
_LIED = "device reported CRC does not match the bytes it served"


@dataclass
class Measured:
    """Components, rule values, findings and notes gathered by one step."""

    components: dict[str, Component] = field(default_factory=dict)
    values: dict[str, str | int | float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)

    def merge(self, other: Measured) -> None:
        """Add ``other``'s results to these."""
        self.components.update(other.components)
        self.values.update(other.values)
        self.findings += other.findings
        self.notes.update(other.notes)


def file_component_name(path: str) -> str:
    """``ftp/APM/scripts/x.lua`` for FTP path ``/APM/scripts/x.lua`` (paths relative to the FTP root)."""
    return "ftp/" + path.lstrip("/")


def measure_params(
    link: Link,
    ftp: FtpClient | None,
    ident: Identity,
    selection: Selection,
    progress: Progress,
    *,
    values: bool = False,
) -> Measured:
    """``fc/params`` plus one ``param/NAME`` value per selected parameter.

    With ``values`` (the baseline measures ``param-values``), also one
    ``param/NAME`` component per selected parameter: kind ``parameter``,
    device-reported, attributes ``type`` and ``value`` (the value as text,
    :func:`~attest.mavlink.value_text`: a float32 compared by its bits, printed
    readably), so that the verifier names each changed, added or removed
    parameter with its old and new value.

    Reads ``@PARAM/param.pck`` when the controller is ArduPilot with FTP; if
    that is refused or malformed, falls back to the parameter protocol (both
    are device-reported, so the fallback weakens nothing).
    """
    out = Measured()
    params: list[Param] | None = None
    source = "param-protocol"
    if ftp is not None and ident.autopilot == AUTOPILOT_ARDUPILOT:
        progress.start(None, "parameters")
        try:
            params = decode_pck(ftp.read(PARAM_FILE, on_bytes=progress.advance, exact_size=False))
            source = f"ftp:{PARAM_FILE}"
        except (FtpNakError, ParamFormatError) as e:
            out.notes["param_pck_fallback"] = str(e)
    if params is None:
        progress.start(None, "parameters")
        params = fetch_params(link, bytewise=bool(ident.capabilities & CAP_PARAM_ENCODE_BYTEWISE))
    chosen = [p for p in params if selection.selects(f"param/{p.name}")]
    out.components["fc/params"] = Component(
        name="fc/params",
        kind="parameters",
        digest=params_digest(chosen),
        attributes={"count": len(chosen), "total": len(params), "source": source},
        method=Method.DEVICE_REPORTED,
    )
    out.values = {f"param/{p.name}": p.value for p in chosen}
    if values:
        for p in chosen:
            name = f"param/{p.name}"
            attrs: dict[str, str | int | bool | None] = {"type": p.type, "value": p.text()}
            out.components[name] = Component(name, "parameter", None, attrs, Method.DEVICE_REPORTED)
    return out


def _walk(ftp: FtpClient, root: str, out: Measured) -> Iterable[tuple[str, int | None]]:
    """Yield ``(path, listed size)`` of every file below ``root``; a root that does not exist yields nothing."""
    top = root.rstrip("/") or "/"
    stack = [(top, 0)]
    listed_before = ftp.listed
    while stack:
        path, depth = stack.pop()
        entries: list[DirEntry] | None = None
        try:
            entries = ftp.list_dir(path)
        except FtpNakError as e:
            if not (e.code == Nak.FILE_NOT_FOUND and path == top):  # else: no such root here (no SD scripts)
                _unlistable(out, path, e)
        except FtpPathError as e:
            # A name the controller listed makes a path the dock cannot ask for: unreadable, never skipped.
            _unlistable(out, path, e)
        # Every entry counts, skip entries too: each costs the dock as much as a name.
        if ftp.listed - listed_before > MAX_WALK_ENTRIES:
            raise CollectionError(f"more than {MAX_WALK_ENTRIES} entries below {root!r}")
        if entries is None:
            continue
        for entry in sorted(entries, key=lambda e: e.name, reverse=True):
            child = f"{path.rstrip('/')}/{entry.name}" if path != "" else entry.name
            if entry.is_dir:
                if depth + 1 <= MAX_DEPTH:
                    stack.append((child, depth + 1))
                else:
                    name = file_component_name(child)
                    out.components[name] = Component(name=name, kind="directory", error="nested too deep")
            else:
                yield child, entry.size


def _unlistable(out: Measured, path: str, e: Exception) -> None:
    name = file_component_name(path)
    out.components[name] = Component(name=name, kind="directory", error=f"cannot list: {e}")


def measure_files(ftp: FtpClient, roots: Iterable[str], selection: Selection, progress: Progress) -> Measured:
    """One ``ftp/<path>`` component per selected file below ``roots``, hashed on the dock.

    The controller's CalcFileCRC32 of each file is compared with the dock's
    CRC of the bytes it read; a difference is a critical ``device_lied`` finding.
    """
    out = Measured()
    progress.start(None, "files")
    for root in roots:
        for path, _size in _walk(ftp, root, out):
            name = file_component_name(path)
            if not selection.selects(name):
                continue
            try:
                data = ftp.read(path, on_bytes=progress.advance)
                device_crc = ftp.crc32(path)
            except (FtpNakError, FtpPathError) as e:
                out.components[name] = Component(name=name, kind="file", error=str(e))
                continue
            dock_crc = raw_crc32(data)
            attrs: dict[str, str | int | bool | None] = {
                "size": len(data),
                "crc32": f"{dock_crc:08x}",
                "device_crc32": None if device_crc is None else f"{device_crc:08x}",
            }
            out.components[name] = Component(name, "file", hashlib.sha256(data).hexdigest(), attrs, Method.DOCK_READ)
            if device_crc is not None and device_crc != dock_crc:
                out.findings.append(
                    Finding(name, FindingKind.DEVICE_LIED, Severity.CRITICAL, f"crc32:{dock_crc:08x}",
                            f"crc32:{device_crc:08x}", _LIED)
                )  # fmt: skip
    return out


def measure_flash(
    ftp: FtpClient,
    parts: Iterable[str],
    selection: Selection,
    progress: Progress,
    *,
    image_size: int | None,
    app_start: int | None = None,
    expected_size: int | None = None,
) -> Measured:
    """``fc/flash``, ``fc/firmware`` and ``fc/app-crc`` from ``@SYS/flash.bin``, as selected in ``parts``.

    ``fc/firmware`` and ``fc/app-crc`` measure the application **at the boot
    address**, where the bootloader starts it, never merely an application
    somewhere in flash (:func:`~attest.firmware.application_at_boot`); when
    that is not a verified application, the result's notes say why. A controller without
    ``@SYS/flash.bin`` (PX4, SITL) yields nothing: a baseline that has these
    components then reports them missing.

    Args:
        ftp: the FTP client.
        parts: which of ``flash``, ``firmware``, ``app-crc`` to produce.
        selection: component selection.
        progress: progress display.
        image_size: the application length a firmware-image baseline
            records; else the flash's own app descriptor says.
        app_start: the boot address (offset in flash) a firmware-image
            baseline records; else the application's own link address says.
        expected_size: the flash size the baseline recorded (``fc/flash``'s
            ``size``), the progress total so a long read shows a percentage;
            display only: the read still goes to EOF (the stat size of
            ``@SYS/flash.bin`` is a placeholder, so there is no other total).
    """
    out = Measured()
    wanted = [p for p in parts if p in ("flash", "firmware", "app-crc") and selection.selects(f"fc/{p}")]
    if not wanted:
        return out
    progress.start(expected_size, "flash")
    try:
        flash = ftp.read(FLASH_FILE, on_bytes=progress.advance, exact_size=False)
    except FtpNakError as e:
        if e.code in (Nak.FILE_NOT_FOUND, Nak.FAIL):
            out.notes["flash"] = f"{FLASH_FILE} not offered ({e})"
            return out
        for p in wanted:
            out.components[f"fc/{p}"] = Component(name=f"fc/{p}", kind=_KINDS[p], error=str(e))
        return out
    if "flash" in wanted:
        out.components["fc/flash"] = Component(
            "fc/flash", "flash", hashlib.sha256(flash).hexdigest(), {"size": len(flash)}, Method.DOCK_READ
        )
    app_parts = [w for w in wanted if w != "flash"]
    if not app_parts:
        return out
    try:
        app = application_at_boot(flash, image_size=image_size, app_start=app_start)
    except FirmwareFormatError as e:  # none to measure, or a flash full of fake descriptors: fail closed
        for p in app_parts:
            out.components[f"fc/{p}"] = Component(f"fc/{p}", _KINDS[p], error=f"{FLASH_FILE}: {e}")
        return out
    if app.note is not None:
        out.notes["flash_app"] = app.note
    image = flash[app.start : app.start + app.length]
    for p in app_parts:
        name = f"fc/{p}"
        if p == "firmware":
            attrs: dict[str, str | int | bool | None] = {"size": app.length, "app_start": app.start}
            if app.desc is not None:
                attrs |= {"board_id": app.desc.board_id, "git_hash": f"{app.desc.git_hash:08x}"}
            out.components[name] = Component(name, "firmware", hashlib.sha256(image).hexdigest(), attrs)
        else:
            crc = raw_crc32(image)
            attrs = {"crc32": f"{crc:08x}", "length": app.length, "source": "dock-read flash.bin"}
            out.components[name] = Component(name, "crc32", app_crc_digest(crc, app.length), attrs, Method.DOCK_READ)
    return out


_KINDS = {"flash": "flash", "firmware": "firmware", "app-crc": "crc32"}


def expected_flash_size(expected: Mapping[str, Component] | None) -> int | None:
    """The ``size`` the baseline's ``fc/flash`` records (a progress total), or ``None``."""
    flash = expected.get("fc/flash") if expected is not None else None
    size = flash.attributes.get("size") if flash is not None else None
    return size if type(size) is int and size > 0 else None
