"""Trust: the policy of who may approve baselines, the rollback state, and the trust decision."""
