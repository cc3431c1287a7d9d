"""Trust: who may approve baselines (a policy, plain or signed and versioned), the rollback state, the decision.

Modules, one job each:

* :mod:`attest.trust.policy`   -- the policy: keys, Sigstore signers, revocations, thresholds (TOML)
* :mod:`attest.trust.document` -- the signed, versioned policy document and its rotation rules
* :mod:`attest.trust.store`    -- the dock's accepted policy in the state directory; ``load_trust`` for ``--trust``
* :mod:`attest.trust.rollback` -- the highest accepted baseline version per name
* :mod:`attest.trust.decision` -- ``trust_baseline``: signatures before parsing, threshold, expiry, rollback
* :mod:`attest.trust.sigstore` -- Sigstore bundles checked offline (it and the library are imported only when used)
* :mod:`attest.trust.sigstore_root` -- a pinned Sigstore trusted root and the key windows sigstore ignores

Outside this package, import these names from here, not from the modules.
"""

from typing import TYPE_CHECKING

from attest.lazy import lazy_exports
from attest.trust.decision import (
    TrustedBaseline,
    read_baseline_file,
    trust_baseline,
    verify_baseline_file,
    verify_envelope,
)
from attest.trust.document import (
    PAYLOAD_TYPE as POLICY_PAYLOAD_TYPE,
)
from attest.trust.document import (
    PolicyDocument,
    UntrustedPolicyError,
    check_self_signed,
    looks_like_document,
    make_document,
    read_document,
)
from attest.trust.policy import Revocation, TrustedKey, TrustPolicy
from attest.trust.rollback import RollbackState
from attest.trust.store import TrustStore, load_trust, read_trust_file, update_trust

if TYPE_CHECKING:
    from attest.trust.sigstore import BundleCheck, SigstoreSigner, read_bundle_file, sign_with_sigstore

__all__ = [
    "POLICY_PAYLOAD_TYPE",
    "BundleCheck",
    "PolicyDocument",
    "Revocation",
    "RollbackState",
    "SigstoreSigner",
    "TrustPolicy",
    "TrustStore",
    "TrustedBaseline",
    "TrustedKey",
    "UntrustedPolicyError",
    "check_self_signed",
    "load_trust",
    "looks_like_document",
    "make_document",
    "read_baseline_file",
    "read_bundle_file",
    "read_document",
    "read_trust_file",
    "sign_with_sigstore",
    "trust_baseline",
    "update_trust",
    "verify_baseline_file",
    "verify_envelope",
]

# Sigstore: loaded on first use (a policy without Sigstore signers never needs it).
__getattr__ = lazy_exports(
    __name__,
    dict.fromkeys(("BundleCheck", "SigstoreSigner", "read_bundle_file", "sign_with_sigstore"), "attest.trust.sigstore"),
)
