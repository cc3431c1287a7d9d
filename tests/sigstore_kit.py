"""Mint Sigstore trusted roots and bundles offline, for tests: the simulator in :mod:`attest.sim.sigstore`.

The kit moved into the package so that ``attest sim sigstore`` and the demo can use it; the tests keep
importing it from here.
"""

from attest.sim.sigstore import (
    ALICE,
    BOB,
    BUNDLE_V03,
    IN_TOTO,
    ISSUER,
    SIGNED_AT,
    TRUSTED_ROOT,
    TestRoot,
    edit,
    leaf_hash,
)

__all__ = [
    "ALICE",
    "BOB",
    "BUNDLE_V03",
    "IN_TOTO",
    "ISSUER",
    "SIGNED_AT",
    "TRUSTED_ROOT",
    "TestRoot",
    "edit",
    "leaf_hash",
]
