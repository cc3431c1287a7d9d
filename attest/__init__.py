"""drone-attest: prove, before every flight, that a drone runs what was approved.

The map (one data flow, see ``docs/architecture.md``)::

    target string -> transport -> collector -> Evidence
    Evidence x TrustedBaseline -> verifier (pure) -> Result -> report / log / gate

Packages and modules (docs/architecture.md draws the layers; lint-imports enforces them):

* :mod:`attest.errors`      -- the error root and its exit codes
* :mod:`attest.model`       -- frozen data: Component, Evidence, Finding, Result
* :mod:`attest.targets`     -- target strings and transport options
* :mod:`attest.attestation` -- one attestation, always ending in a Result
* :mod:`attest.baseline`    -- Baseline <-> in-toto Statement
* :mod:`attest.trust`       -- trust policy, rollback state, the trust decision
* :mod:`attest.signing`     -- Ed25519 keys, DSSE envelopes, signed results
* :mod:`attest.verifier`    -- compare Evidence with a trusted baseline (no IO)
* :mod:`attest.report`      -- human table and ``--json`` object
* :mod:`attest.collectors`  -- what to read on each kind of device
* :mod:`attest.firmware`    -- firmware images, CRCs, the app descriptor, the serial bootloader
* :mod:`attest.mavlink`     -- MAVLink 2 framing, parameters, FTP (flight controllers)
* :mod:`attest.transports`  -- serial (pyserial) and SSH (paramiko) links
* :mod:`attest.log`         -- the signed, append-only RFC 6962 attestation log
* :mod:`attest.sim`         -- simulated drones for the demo and tests
"""

from __future__ import annotations

__version__ = "0.1.0"
