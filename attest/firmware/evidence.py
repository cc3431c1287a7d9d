"""How strong a flight controller's firmware evidence is: bytes the dock hashed, or only a CRC-32.

A CRC-32 is not a hash. It is linear over GF(2), so four chosen bytes give
any image any CRC: a baseline that pins the application only by its CRC
(``fc/app-crc``, e.g. from a ``.px4`` file, whose PX4-Bootloader cannot read
the application back) passes a forged image. Such a baseline is therefore
refused unless its makers accept it explicitly, and the acceptance is part
of what they sign: ``collection.firmware.crc_only`` is ``true``
(:func:`accept_crc_only_firmware`, ``attest baseline create
--accept-crc-only-firmware``). Where the evidence is only a CRC, the
``fc/app-crc`` component says so (attribute ``evidence``: :data:`CRC_ONLY`)
and so does every result (note ``firmware_evidence``).

Used by both firmware collectors (:func:`judge_firmware_evidence`), and by the
CLI to record the acceptance and to show it (:func:`crc_only_components`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from attest.errors import ConfigError
from attest.model import Component

__all__ = [
    "CRC_ONLY",
    "accept_crc_only_firmware",
    "crc_only_accepted",
    "crc_only_components",
    "judge_firmware_evidence",
]

#: The label of firmware evidence that is only a CRC-32 (the ``evidence`` attribute of ``fc/app-crc``).
CRC_ONLY = "CRC only"
#: Components holding the application's bytes as the dock hashed them.
_BYTES_EVIDENCE = ("fc/firmware", "fc/flash")
_CRC = "fc/app-crc"
_REFUSED = (
    "the application would be pinned by its CRC-32 only, which is forgeable (4 chosen bytes give any image any "
    "CRC), and this baseline does not record that its signers accepted that (collection.firmware.crc_only); "
    "pin the bytes (an .apj, or a bootloader with READ_MULTI) or create it with --accept-crc-only-firmware"
)
_ACCEPTED = (
    "CRC only: the application is pinned by its CRC-32 alone (fc/app-crc), which a forged image can match; "
    "the baseline's signers accepted this (collection.firmware.crc_only)"
)


def crc_only_accepted(collection: Mapping[str, Any]) -> bool:
    """Whether a baseline's ``collection`` settings accept CRC-only firmware evidence."""
    fw = collection.get("firmware")
    return isinstance(fw, Mapping) and fw.get("crc_only") is True


def accept_crc_only_firmware(collection: Mapping[str, Any]) -> dict[str, Any]:
    """The flight-controller ``collection`` settings of a baseline whose makers accept a CRC-only firmware.

    The application is then not hashed (``firmware`` leaves ``measure``), only
    its CRC compared, and ``firmware.crc_only`` records the acceptance in the
    signed baseline. For ``attest baseline create --accept-crc-only-firmware``.

    Raises:
        ConfigError: ``collection`` is not a flight controller's (it has no ``measure`` list).
    """
    measure = collection.get("measure")
    if not isinstance(measure, list):
        raise ConfigError("--accept-crc-only-firmware applies to flight controllers and firmware images only")
    fw = collection.get("firmware")
    return {
        **collection,
        "measure": [p for p in measure if p != "firmware"],
        "firmware": {**(fw if isinstance(fw, Mapping) else {}), "crc_only": True},
    }


def crc_only_components(components: Mapping[str, Component]) -> list[str]:
    """The components that pin the firmware by a CRC only: ``fc/app-crc`` when nothing holds the bytes.

    Nothing holds the bytes when neither ``fc/firmware`` nor ``fc/flash`` is
    present (measured or failed). Works on a baseline's components (for
    ``baseline show``) and on a collector's.
    """
    crc = components.get(_CRC)
    if crc is None or crc.digest is None or any(name in components for name in _BYTES_EVIDENCE):
        return []
    return [_CRC]


def judge_firmware_evidence(
    components: Mapping[str, Component], collection: Mapping[str, Any]
) -> tuple[dict[str, Component], str | None]:
    """Label CRC-only firmware evidence, or refuse it where the baseline did not accept it.

    Returns:
        The components and a note for the result. CRC-only evidence with the
        acceptance recorded: ``fc/app-crc`` gains ``evidence: "CRC only"`` and
        the note says so. Without it: ``fc/app-crc`` becomes unreadable (a
        component with ``error`` set, never a pass) and the note says why.
        Otherwise the components unchanged and ``None``.
    """
    out = dict(components)
    names = crc_only_components(out)
    if not names:
        return out, None
    accepted = crc_only_accepted(collection)
    for name in names:
        c = out[name]
        if accepted:
            out[name] = dataclasses.replace(c, attributes={**c.attributes, "evidence": CRC_ONLY})
        else:
            out[name] = Component(name, c.kind, error=_REFUSED)
    return out, _ACCEPTED if accepted else _REFUSED
