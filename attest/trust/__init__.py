"""Trust: the policy of who may approve baselines, the rollback state, and the trust decision."""

from attest.trust.decision import TrustedBaseline, read_baseline_file, trust_baseline, verify_envelope
from attest.trust.policy import TrustedKey, TrustPolicy
from attest.trust.rollback import RollbackState

__all__ = [
    "RollbackState",
    "TrustPolicy",
    "TrustedBaseline",
    "TrustedKey",
    "read_baseline_file",
    "trust_baseline",
    "verify_envelope",
]
