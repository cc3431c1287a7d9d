"""Simulated drones for the demo and the tests: real bytes, real protocols, no hardware.

``tree`` writes a companion-computer filesystem; ``fc`` runs a flight
controller on a pty (``fc_app`` its MAVLink answers, ``fc_ftp`` its FTP
server, ``fc_params`` its parameters, ``fc_flash`` its board, image and
flash, ``fc_faults`` its misbehaviour, ``bootloader`` its serial
bootloader). Imported only by ``attest sim`` (:mod:`attest._cli.sim`) and
the tests, from here. ``android`` (with ``android_device``, ``android_shell``,
``android_adbd``) is an Android controller speaking ADB over TCP.
``dji`` is a DJI aircraft speaking DUML v1 on a pty (``serial_line``: the pty and
the line faults both pty simulators share). ``sigstore`` is a
private Sigstore instance (TEST ONLY: a CA, a CT log, a transparency log) that
mints trusted roots and bundles offline.
"""

from attest.sim.android import AndroidSimConfig, run_android
from attest.sim.android_adbd import AdbdFaults
from attest.sim.dji import DjiFaults, DjiSimConfig, SimModule, default_modules, run_dji
from attest.sim.fc import SimConfig, run_fc
from attest.sim.fc_faults import Faults, Hostile
from attest.sim.fc_flash import board_for, build_flash, build_image, release_file_bytes, stash_approved
from attest.sim.fc_params import default_params, parse_param_override
from attest.sim.sigstore import TestRoot
from attest.sim.tree import make_tree

__all__ = [
    "AdbdFaults",
    "AndroidSimConfig",
    "DjiFaults",
    "DjiSimConfig",
    "Faults",
    "Hostile",
    "SimConfig",
    "SimModule",
    "TestRoot",
    "board_for",
    "build_flash",
    "build_image",
    "default_modules",
    "default_params",
    "make_tree",
    "parse_param_override",
    "release_file_bytes",
    "run_android",
    "run_dji",
    "run_fc",
    "stash_approved",
]
