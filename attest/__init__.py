"""drone-attest: prove, before every flight, that a drone runs what was approved.

The map (one data flow, see ``docs/architecture.md``)::

    target string -> transport -> collector -> Evidence
    Evidence x TrustedBaseline -> verifier (pure) -> Result -> report / log / gate

Modules:

* :mod:`attest.errors`     -- the error root and its exit codes
* :mod:`attest.model`      -- frozen data: Measurement, Evidence, Finding, Result
* :mod:`attest.targets`    -- parse a target string; open the right collector
* :mod:`attest.hashing`    -- streaming, parallel SHA-256
* :mod:`attest.selection`  -- include/exclude globs, recorded in baselines
* :mod:`attest.collectors` -- what to read on each kind of device
* :mod:`attest.signing.keys`       -- Ed25519 key files
* :mod:`attest.signing.dsse`       -- DSSE envelopes (sign, verify signatures)
* :mod:`attest.baseline`   -- Baseline <-> in-toto Statement
* :mod:`attest.trust.decision`      -- trust policy, threshold, expiry, rollback state
* :mod:`attest.verifier`   -- compare Evidence with a trusted baseline (no IO)
* :mod:`attest.report`     -- human table and ``--json`` object
* :mod:`attest.transports` -- serial (pyserial) and SSH (paramiko) links
* :mod:`attest.mavlink`    -- MAVLink 2 framing, parameters, FTP (flight controllers)
* :mod:`attest.firmware.image`   -- firmware images (with :mod:`attest.firmware.crc`, :mod:`attest.firmware.search`);
  :mod:`attest.firmware.bootloader` the serial bootloader
* :mod:`attest.signing.results`    -- results as signed in-toto Statements (log entries)
* :mod:`attest.log`        -- the signed, append-only RFC 6962 attestation log
* :mod:`attest.sim`        -- simulated drones for the demo and tests
"""

from __future__ import annotations

__version__ = "0.1.0"
