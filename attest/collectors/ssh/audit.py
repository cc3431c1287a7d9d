"""Remote mode's audit: the dock re-reads a nonce-chosen sample over SFTP to check what the device said.

In remote mode the device's ``sha256sum`` reports the digests. Once the
device has committed to every answer, :func:`~attest.collectors.sampling.audit_sample` picks files by the
run's fresh nonce (which the device never sees) and :func:`audit` reads them
again over SFTP, another way into the device, so that one replaced tool is
not enough to pass. A disagreement is a critical ``device_lied`` finding.
A sample catches one lie among many files rarely (docs/ssh.md); pull mode
reads every file over SFTP instead.

Hand-written: the choice of the sample, ranked by SHA-256 of the nonce and
each name, so that it is unpredictable to the device and an auditor can
recompute it from the logged nonce.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from attest.collectors.sampling import audit_sample
from attest.collectors.ssh.listing import lie_finding, set_digest
from attest.logs import get_logger
from attest.model import Component, Finding, Method
from attest.progress import Progress
from attest.transports.ssh import SftpAttrs, SftpSession

__all__ = ["audit"]

log = get_logger()


def audit(
    sftp: SftpSession,
    components: dict[str, Component],
    contents: list[tuple[str, bytes, int | None]],
    claimed: Mapping[str, str],
    *,
    listed: Mapping[bytes, SftpAttrs],
    always: AbstractSet[str] = frozenset(),
    checked: str,
    nonce: str,
    sample_size: int | None,
    label: str,
    notes: dict[str, Any],
    progress: Progress,
) -> tuple[Finding, ...]:
    """Re-read a nonce-chosen sample of ``claimed`` over SFTP and report every disagreement.

    SFTP is another way into the device than the command that produced
    ``claimed`` (the device's sha256sum), so one replaced tool is not enough
    to pass the audit. Audited components get the SFTP digest, dock-read.

    Args:
        sftp: the session to re-read with.
        components: the listed components; audited ones are updated.
        contents: ``(name, path, size or None)`` of everything hashed.
        claimed: name -> the digest the device's command led to.
        listed: path -> the attributes it was listed with (checked again after reading).
        always: names audited in addition to the sample (the programs the run started).
        checked: what ``claimed`` is, for findings, notes and the log.
        nonce: the run's fresh nonce.
        sample_size: files to audit (``None``: :func:`audit_sample`'s default).
        label: the device, for the log.
        notes: the evidence notes; ``notes["audit"]`` is set.
        progress: receives the bytes re-read.
    """
    by_name = {name: (path, size) for name, path, size in contents}
    sample = audit_sample(sorted(claimed), nonce, sample_size)
    extra = sorted(n for n in always if n in claimed and n not in sample)
    checked_names = sorted([*sample, *extra])
    progress.start(sum(by_name[n][1] or 0 for n in checked_names), "auditing")
    audited = sftp.hash_files([by_name[n] for n in checked_names], listed=listed, on_bytes=progress.advance)
    findings = []
    lied = []
    for name in checked_names:
        actual = audited[by_name[name][0]]
        set_digest(components, name, actual, Method.DOCK_READ)
        if not actual.startswith("cannot") and actual != claimed[name]:
            lied.append(name)
            findings.append(
                lie_finding(
                    name,
                    read=actual,
                    reported=claimed[name],
                    detail=f"{checked} disagree with the bytes the dock read over SFTP; "
                    "nothing else the device said in this run can be trusted",
                )
            )
    notes["audit"] = {
        "checked": checked,
        "population": len(claimed),
        "sample_size": len(sample),
        "sample": sample,
        "tools": extra,
        "audited": checked_names,
        "disagreements": lied,
    }
    log.info(
        "ssh_audit_sample",
        device=label,
        checked=checked,
        nonce=nonce,
        population=len(claimed),
        sample_size=len(sample),
        sample=sample,
        disagreements=len(lied),
    )
    if lied:
        log.warning("device_lied", device=label, components=lied)
    return tuple(findings)
