"""Names of DUML module types, and the addresses the dock asks for a version.

Type numbers and meanings follow o-gs/dji-firmware-tools (the Wireshark
dissector's ``DJI_DUMLv1_SRC_DEST_TEXT`` and ``comm_mkdupc.py``'s
``COMM_DEV_TYPE``); the short names are ours, made to be component names
(``module/flight-controller-0``). Types 30 and 31 have no known meaning and
are named ``type30`` and ``type31``.
"""

from __future__ import annotations

from attest.duml.frames import Address

__all__ = ["DISCOVERY", "DOCK", "MODULE_TYPES", "module_name", "parse_module"]

#: type -> short name
MODULE_TYPES: dict[int, str] = {
    1: "camera",
    2: "app",
    3: "flight-controller",
    4: "gimbal",
    5: "center-board",
    6: "remote-controller",
    7: "wifi-air",
    8: "video-air",  # DM36x transcoder, air side
    9: "radio-air",  # HD transmission (Lightbridge/OcuSync) MCU, air side
    10: "pc",
    11: "battery",
    12: "esc",
    13: "video-ground",  # DM36x transcoder, ground side
    14: "radio-ground",  # HD transmission MCU, ground side
    15: "usb-bridge-air",  # serial-to-parallel (USB controller), air side
    16: "usb-bridge-ground",
    17: "vision-mono",
    18: "vision-stereo",
    19: "radio-fpga-air",
    20: "radio-fpga-ground",
    21: "simulator",
    22: "base-station",
    23: "onboard-computer",  # airborne computing platform
    24: "rc-battery",
    25: "imu",
    26: "gps",
    27: "wifi-ground",
    28: "signal-converter",
    29: "pmu",
    30: "type30",
    31: "type31",
}
_BY_NAME = {name: t for t, name in MODULE_TYPES.items()}

#: The dock's own address: a PC (type 10), index 0, as o-gs's service tool uses.
DOCK = Address(10, 0)

#: Types never asked: "any" (0), the mobile app (2) and PCs (10) are not parts of the drone.
_NOT_ASKED = frozenset({2, 10})

#: Every address asked for its version: every module type, every index (29 types x 8 = 232).
DISCOVERY: tuple[Address, ...] = tuple(
    Address(t, i) for t in sorted(MODULE_TYPES) if t not in _NOT_ASKED for i in range(8)
)


def module_name(address: Address) -> str:
    """``flight-controller-0``, ``esc-3``: the module's component name below ``module/``."""
    return f"{MODULE_TYPES.get(address.type, f'type{address.type}')}-{address.index}"


def parse_module(text: str) -> Address:
    """The address of ``camera-0``, ``esc-3`` or ``camera`` (index 0).

    Raises:
        ValueError: an unknown type name or an index outside 0-7.
    """
    name, sep, index = text.rpartition("-")
    if not sep or not index.isdigit():
        name, index = text, "0"
    if name not in _BY_NAME or not 0 <= int(index) < 8:
        raise ValueError(f"{text!r}: expected MODULE[-INDEX], MODULE one of {', '.join(sorted(_BY_NAME))}, INDEX 0-7")
    return Address(_BY_NAME[name], int(index))
