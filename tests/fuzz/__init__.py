"""Fuzz harnesses: one target per parser of outside input, run under atheris (``python -m tests.fuzz.run``).

Modules, one job each:

* :mod:`tests.fuzz.core`        -- what a target is, and what counts as a finding
* :mod:`tests.fuzz.fixtures`    -- keys, a trust policy and other real inputs made with attest's own code
* :mod:`tests.fuzz.devices`     -- scripted devices: a serial port and an SFTP channel that serve fuzz bytes
* :mod:`tests.fuzz.recording`   -- real MAVLink traffic recorded from ``attest sim fc`` (seeds)
* :mod:`tests.fuzz.targets_*`   -- the targets, by area (trust, mavlink, firmware, ssh, log)
* :mod:`tests.fuzz.registry`    -- every target by name, and the regression inputs kept for each
* :mod:`tests.fuzz.mutate`      -- a small deterministic mutator for the smoke test
* :mod:`tests.fuzz.minimize`    -- shrinks a finding's input while it still fails the same way
* :mod:`tests.fuzz.run`         -- the runner: one atheris subprocess per target, a summary line each

See docs/fuzzing.md.
"""
