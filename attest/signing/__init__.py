"""Signing: Ed25519 key files, DSSE envelopes, and the dock's signed attestation results."""
