"""Simulated drones for the demo and the tests: real bytes, real protocols, no hardware.

``tree`` writes a companion-computer filesystem; ``fc`` runs a flight
controller on a pty (``fc_app`` its MAVLink answers, ``fc_ftp`` its FTP
server, ``fc_params`` its parameters, ``fc_flash`` its board, image and
flash, ``fc_faults`` its misbehaviour, ``bootloader`` its serial
bootloader). Imported only by ``attest sim`` (:mod:`attest._cli.sim`) and
the tests, from here.
"""

from attest.sim.fc import SimConfig, run_fc
from attest.sim.fc_faults import Faults, Hostile
from attest.sim.fc_flash import board_for, build_flash, build_image, release_file_bytes, stash_approved
from attest.sim.fc_params import default_params, parse_param_override
from attest.sim.tree import make_tree

__all__ = [
    "Faults",
    "Hostile",
    "SimConfig",
    "board_for",
    "build_flash",
    "build_image",
    "default_params",
    "make_tree",
    "parse_param_override",
    "release_file_bytes",
    "run_fc",
    "stash_approved",
]
