"""One measurement of an Android controller's packages over an open ADB connection: :class:`Measurement`.

Steps (the collector has read the properties and checked the device first):

1. ``pm list packages -f -U -i --show-versioncode``: every package, its base
   APK, version code and installer. Values ``package/<name>`` (the version
   code) and ``package/<name>/installer`` for every package with a valid name;
   a name Android does not allow is an error component; a line that is no
   package makes ``android/packages`` an error.
2. Which packages are measured in full: when creating a baseline, every one
   (at most :attr:`~AndroidLimits.max_packages`); when verifying, those the
   baseline names. A package the baseline does not know is ``unexpected``
   from its list line alone (``package/<name>`` with ``not_hashed``), so a
   device listing 10,000 packages costs one bounded command.
3. Per measured package: ``dumpsys package``, ``pm path``, ``cmd appops get``:
   ``package/<name>`` and the values ``package/<name>/version_name``,
   ``package/<name>/permission/<perm>`` (``granted`` or ``denied``) and
   ``package/<name>/appop/<OP>`` (the mode). A command that fails or prints
   what Android does not makes ``package/<name>`` an error.
4. Each APK: ``STAT`` over sync (a regular file; its size), then by method:
   ``pull`` reads it (:class:`~attest.collectors.adb.apks.ApkReader`: digest
   and certificate from the same bytes, ``dock-read``); ``remote`` has the
   device hash it (``device-reported``) and then reads a nonce-chosen audit
   sample itself (:func:`~attest.collectors.sampling.audit_sample`);
   any disagreement is a critical ``device_lied`` finding. When verifying,
   an APK far larger than the baseline's is not read or hashed
   (:func:`~attest.collectors.adb.apks.read_decision`).
5. ``cert/<name>`` from the base APK's bytes (Android requires the splits to
   be signed alike; a changed split changes its own digest). In remote mode a
   base APK the dock did not read has the baseline's certificate when the
   device reports the baseline's bytes for it (``device-reported``: the
   certificate is a function of those bytes), and is ``not_hashed`` otherwise.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attest.collectors.adb.apks import ApkRead, ApkReader, read_decision
from attest.collectors.adb.certs import cert_component
from attest.collectors.adb.commands import CommandFailedError, run
from attest.collectors.adb.devicehash import device_digests
from attest.collectors.adb.limits import AndroidLimits
from attest.collectors.adb.packages import (
    Listed,
    PackageFormatError,
    apk_files,
    apk_name,
    cert_name,
    escaped,
    package_component,
    package_name,
    parse_appops,
    parse_dumpsys,
    parse_list,
    parse_paths,
)
from attest.collectors.sampling import audit_sample
from attest.errors import CollectionError
from attest.logs import get_logger
from attest.model import Component, Finding, FindingKind, Method, Severity
from attest.progress import Progress
from attest.report import printable
from attest.selection import Selection
from attest.transports.adb import AdbConnection, SyncSession

__all__ = ["PACKAGE_LIST", "Measurement"]

log = get_logger()

#: The component that carries an error when ``pm list packages`` prints what is not a package.
PACKAGE_LIST = "android/packages"
#: Kinds whose changed attributes the notes spell out (:meth:`Measurement.changes`).
_DESCRIBED = ("package", "android-build", "signing-cert")
_LIST = ["pm", "list", "packages", "-f", "-U", "-i", "--show-versioncode"]


@dataclass
class _Apk:
    """One APK file to measure."""

    package: str
    file: str
    path: bytes
    component: str
    selected: bool
    size: int = 0
    skip: str | None = None  # why it is not read (a component with not_hashed)
    error: str | None = None


class Measurement:
    """Packages, APKs and certificates of one controller (see the module docstring).

    Args:
        conn: the open, authenticated connection.
        selection: which components to produce.
        expected: the baseline's components when verifying, ``None`` when creating one.
        limits: the bounds.
        sdk: the device's API level.
        progress: receives the bytes read.
    """

    def __init__(
        self,
        conn: AdbConnection,
        *,
        selection: Selection,
        expected: Mapping[str, Component] | None,
        limits: AndroidLimits,
        sdk: int | None,
        progress: Progress,
    ) -> None:
        self.conn = conn
        self.selection = selection
        self.expected = expected
        self.limits = limits
        self.sdk = sdk
        self.progress = progress
        self.components: dict[str, Component] = {}
        self.values: dict[str, str | int | float] = {}
        self.findings: list[Finding] = []
        self.notes: dict[str, Any] = {}
        self._apks: list[_Apk] = []
        self._listed: dict[str, Listed] = {}

    # -- packages ---------------------------------------------------------------------------

    def packages(self) -> None:
        """Steps 1-3: list every package, then read the ones measured in full.

        Raises:
            CollectionError: ``pm list packages`` failed or listed more than allowed.
            TransportError: the link failed.
        """
        lim = self.limits
        out = run(self.conn, _LIST, max_output=lim.list_output)
        try:
            listed, bad = parse_list(out, max_packages=lim.max_listed)
        except PackageFormatError as e:
            raise CollectionError(f"{self.conn.label}: {e}") from e
        if bad:
            first = printable(bad[0][:120].decode("utf-8", "replace"))
            self._error(
                PACKAGE_LIST,
                "package-list",
                f"'pm list packages' printed {len(bad)} line(s) that are not a package, first {first!r}",
            )
        twice: set[str] = set()
        for item in listed:
            if item.name is None:
                name = package_name(escaped(item.raw))
                if self.selection.selects(name):
                    self._error(
                        name,
                        "package",
                        "the device reports a package name Android does not allow; nothing was asked about it",
                    )
                continue
            if item.name in twice or item.name in self._listed:
                # Which line is the package? Neither: an error, never a measurement of one of them.
                twice.add(item.name)
                self._listed.pop(item.name, None)
                self.values.pop(package_name(item.name), None)
                self.values.pop(f"{package_name(item.name)}/installer", None)
                self._error(package_name(item.name), "package", "'pm list packages' lists it twice")
                continue
            self._listed[item.name] = item
            self.values[package_name(item.name)] = item.version_code
            if item.installer is not None:
                self.values[f"{package_name(item.name)}/installer"] = item.installer
        wanted = [n for n in self._listed if self._in_scope(n)]
        if self.expected is None and len(wanted) > lim.max_packages:
            raise CollectionError(
                f"{self.conn.label}: the device lists {len(wanted)} packages; "
                f"a baseline measures at most {lim.max_packages}"
            )
        known = self._known()
        measured = 0
        for name in wanted:
            if known is not None and name not in known:
                self._unknown(name)
                continue
            self._package(name)
            measured += 1
        self.notes["packages"] = {"listed": len(listed), "measured": measured}

    def _known(self) -> set[str] | None:
        """Packages the baseline names (``None`` when creating one: every package is measured)."""
        if self.expected is None:
            return None
        known = set()
        for comp in self.expected:
            head, sep, rest = comp.partition("/")
            if sep and head in ("package", "apk", "cert"):
                known.add(rest.split("/", 1)[0])
        return known

    def _in_scope(self, name: str) -> bool:
        sel = self.selection
        return (
            sel.selects(package_name(name)) or sel.selects(cert_name(name)) or sel.selects(apk_name(name, "base.apk"))
        )

    def _unknown(self, name: str) -> None:
        """A package the baseline does not know: unexpected from its list line, nothing read."""
        item = self._listed[name]
        comp = package_name(name)
        if self.selection.selects(comp):
            attrs: dict[str, str | int | bool | None] = {"version_code": item.version_code, "installer": item.installer}
            self.components[comp] = Component(
                comp,
                "package",
                attributes=attrs,
                method=Method.DEVICE_REPORTED,
                not_hashed="not in the baseline: not measured",
            )

    def _package(self, name: str) -> None:
        lim = self.limits
        conn = self.conn
        item = self._listed[name]
        try:
            details = parse_dumpsys(
                run(conn, ["dumpsys", "package", name], max_output=lim.command_output),
                name,
                max_permissions=lim.max_permissions,
            )
            paths = parse_paths(run(conn, ["pm", "path", name], max_output=lim.command_output), max_apks=lim.max_apks)
            ops = parse_appops(
                run(conn, ["cmd", "appops", "get", name], max_output=lim.command_output), max_ops=lim.max_ops
            )
            if paths[0] != item.path:
                raise PackageFormatError("'pm path' and 'pm list packages' name different base APKs")
            files = apk_files(paths)
            component = package_component(name, details, base=paths[0], listed=item)
        except (CommandFailedError, PackageFormatError) as e:
            self._error(package_name(name), "package", f"cannot read: {e}")
            return
        if self.selection.selects(component.name):
            self.components[component.name] = component
        prefix = package_name(name)
        if details.version_name is not None:
            self.values[f"{prefix}/version_name"] = details.version_name
        for perm, granted in details.permissions.items():
            self.values[f"{prefix}/permission/{perm}"] = "granted" if granted else "denied"
        for op, mode in ops.items():
            self.values[f"{prefix}/appop/{op}"] = mode
        want_cert = self.selection.selects(cert_name(name))
        for file, path in zip(files, paths, strict=True):
            comp = apk_name(name, file)
            selected = self.selection.selects(comp)
            if selected or (want_cert and file == "base.apk"):
                self._apks.append(_Apk(name, file, path, comp, selected))

    # -- APK files -----------------------------------------------------------------------------

    def stat_apks(self, sync: SyncSession) -> None:
        """STAT every APK to measure: a regular file, and its size; decide which are read.

        Raises:
            TransportError: the link failed.
        """
        for apk in self._apks:
            entry = sync.stat(apk.path)
            if not entry.exists:
                apk.error = "cannot read: the device lists it but it does not exist"
            elif not stat.S_ISREG(entry.mode):
                apk.error = f"cannot read: not a regular file (mode {entry.mode:o})"
            else:
                apk.size = entry.size
                if self.expected is not None and apk.selected:  # one read only for its certificate has no entry
                    exp = self.expected.get(apk.component)
                    apk.skip = (
                        "not in the baseline"
                        if exp is None
                        else read_decision(apk.size, exp.attributes.get("size"), self.limits)
                    )
                if apk.skip is None and apk.size > self.limits.max_apk:
                    apk.error = f"cannot read: {apk.size} bytes, more than the {self.limits.max_apk} the dock reads"

    def pull(self, sync: SyncSession) -> None:
        """Pull mode: read every APK decided, hash it, parse certificates from the same bytes.

        Raises:
            TransportError: the link failed, or the device sent more than a file's STAT size.
        """
        reader = ApkReader(sync, limits=self.limits, sdk=self.sdk, progress=self.progress)
        todo = [a for a in self._apks if a.error is None and a.skip is None]
        self.progress.start(sum(a.size for a in todo), "reading")
        reads: dict[str, ApkRead] = {}
        for apk in todo:
            reads[apk.component] = reader.read(apk.path, apk.size, name=apk.component, want_cert=self._wants_cert(apk))
        self.notes["apk_bytes_read"] = reader.bytes_read
        self._apk_components({c: (r, Method.DOCK_READ) for c, r in reads.items()}, method=Method.DOCK_READ)
        self._certs(reads, reported={})

    def remote(self, sync: SyncSession, *, nonce: str, sample_size: int | None) -> None:
        """Remote mode: the device hashes every APK decided; the dock reads a nonce-chosen sample after.

        Raises:
            CollectionError: the device's ``sha256sum`` failed as a whole or printed what was not asked.
            TransportError: the link failed.
        """
        todo = [a for a in self._apks if a.error is None and a.skip is None]
        self.progress.start(None, "hashing on the device")
        reported = device_digests(self.conn, [(a.path, a.size) for a in todo], limits=self.limits)
        by_component = {a.component: a for a in todo}
        claimed = {a.component: reported[a.path] for a in todo if not reported[a.path].startswith("cannot")}
        # The device has committed to every digest before it can know which the dock checks.
        sample = audit_sample(sorted(claimed), nonce, sample_size)
        reader = ApkReader(sync, limits=self.limits, sdk=self.sdk, progress=self.progress)
        self.progress.start(sum(by_component[c].size for c in sample), "auditing")
        reads: dict[str, ApkRead] = {}
        for comp in sample:
            apk = by_component[comp]
            reads[comp] = reader.read(apk.path, apk.size, name=comp, want_cert=self._wants_cert(apk))
        lied = []
        for comp in sample:
            got = reads[comp].digest
            if got is not None and got != claimed[comp]:
                lied.append(comp)
                self.findings.append(
                    Finding(
                        comp,
                        FindingKind.DEVICE_LIED,
                        Severity.CRITICAL,
                        expected=f"sha256:{got}",
                        actual=f"sha256:{claimed[comp]}",
                        detail="the device's sha256sum disagrees with the bytes the dock read over ADB sync; "
                        "nothing else the device said in this run can be trusted",
                    )
                )
        outcomes: dict[str, tuple[ApkRead, Method]] = {}
        for comp, apk in by_component.items():
            said = reported[apk.path]
            outcomes[comp] = (ApkRead(said) if comp in claimed else ApkRead(None, error=said), Method.DEVICE_REPORTED)
        outcomes.update({c: (r, Method.DOCK_READ) for c, r in reads.items()})
        self._apk_components(outcomes, method=Method.DEVICE_REPORTED)
        self._certs(reads, reported={c: claimed[c] for c in claimed if c not in reads})
        self.notes["apk_bytes_read"] = reader.bytes_read
        self.notes["audit"] = {
            "checked": "the digests the device's sha256sum reported",
            "population": len(claimed),
            "sample_size": len(sample),
            "sample": sample,
            "disagreements": lied,
            "device_reported": len(claimed) - len(sample),
        }
        log.info(
            "adb_audit_sample",
            device=self.conn.label,
            nonce=nonce,
            population=len(claimed),
            sample=sample,
            disagreements=len(lied),
        )
        if lied:
            log.warning("device_lied", device=self.conn.label, components=lied)

    def _wants_cert(self, apk: _Apk) -> bool:
        return apk.file == "base.apk" and self.selection.selects(cert_name(apk.package))

    def _apk_components(self, reads: Mapping[str, tuple[ApkRead, Method]], *, method: Method) -> None:
        """``apk/...`` components: each read's outcome with its method; errors and skips with ``method``."""
        for apk in self._apks:
            if not apk.selected:
                continue
            comp = apk.component
            attrs: dict[str, str | int | bool | None] = {"size": apk.size}
            if apk.error is not None:
                self.components[comp] = Component(comp, "apk", method=method, error=apk.error)
            elif apk.skip is not None:
                self.components[comp] = Component(comp, "apk", attributes=attrs, method=method, not_hashed=apk.skip)
            elif comp in reads:
                read, how = reads[comp]
                if read.digest is None:
                    self.components[comp] = Component(comp, "apk", attributes=attrs, method=how, error=read.error)
                else:
                    self.components[comp] = Component(comp, "apk", read.digest, attrs, how)

    def _certs(self, reads: Mapping[str, ApkRead], *, reported: Mapping[str, str]) -> None:
        """``cert/<name>`` for every package whose certificate is selected (see the module docstring)."""
        by_package: dict[str, list[_Apk]] = {}
        for apk in self._apks:
            by_package.setdefault(apk.package, []).append(apk)
        for name, apks in by_package.items():
            comp = cert_name(name)
            if not self.selection.selects(comp):
                continue
            base = apks[0]
            if base.error is not None:
                self.components[comp] = Component(comp, "signing-cert", error=f"its base APK: {base.error}")
                continue
            read = reads.get(base.component)
            if read is None:
                self.components[comp] = self._unread_cert(comp, base, reported)
                continue
            if read.cert is None:
                why = read.cert_error or f"its base APK: {read.error}"
                self.components[comp] = Component(comp, "signing-cert", error=why)
                continue
            self.components[comp] = cert_component(comp, read.cert)

    def _unread_cert(self, comp: str, base: _Apk, reported: Mapping[str, str]) -> Component:
        """The certificate of a package whose base APK the dock did not read."""
        exp = self.expected.get(comp) if self.expected is not None else None
        base_exp = self.expected.get(base.component) if self.expected is not None else None
        claim = reported.get(base.component)
        if exp is not None and base_exp is not None and claim is not None and claim == base_exp.digest:
            # The device reports the approved bytes; their certificate is the approved one (device-reported).
            return Component(comp, exp.kind, exp.digest, exp.attributes, Method.DEVICE_REPORTED)
        why = base.skip or (
            "the device reports other bytes than the baseline's" if claim is not None else "it was not read"
        )
        return Component(
            comp, "signing-cert", method=Method.DEVICE_REPORTED, not_hashed=f"its base APK was not read: {why}"
        )

    # -- helpers --------------------------------------------------------------------------------

    def _error(self, name: str, kind: str, why: str) -> None:
        self.components[name] = Component(name, kind, method=Method.DEVICE_REPORTED, error=why)

    def changes(self) -> dict[str, dict[str, list[Any]]]:
        """When verifying: the attributes of each package, build or certificate that differ from the baseline's.

        ``{component: {attribute: [baseline, device]}}``, for the evidence notes: the verifier's
        ``modified`` finding shows digests; this says what changed (``version_code: [4213, 4214]``).
        """
        out: dict[str, dict[str, list[Any]]] = {}
        if self.expected is None:
            return out
        for name, comp in self.components.items():
            exp = self.expected.get(name)
            if comp.kind not in _DESCRIBED or exp is None or exp.kind != comp.kind or comp.digest == exp.digest:
                continue
            keys = sorted(set(exp.attributes) | set(comp.attributes))
            diff = {k: [exp.attributes.get(k), comp.attributes.get(k)] for k in keys}
            diff = {k: v for k, v in diff.items() if v[0] != v[1]}
            if diff:
                out[name] = diff
        return out
