"""Signing: Ed25519 key files, DSSE envelopes, and the dock's signed attestation results.

Modules, one job each:

* :mod:`attest.signing.keys`    -- Ed25519 keys: files, ids, and the one rule for valid keys and signatures
* :mod:`attest.signing.dsse`    -- DSSE envelopes: parse, sign, check signatures
* :mod:`attest.signing.results` -- a result as a signed in-toto Statement (a log entry), and read back

Outside this package, import these names from here, not from the modules.
Nothing here reads or writes the log (:mod:`attest.log` stores the entries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest.lazy import lazy_exports
from attest.signing.dsse import Envelope, Signature, pae
from attest.signing.keys import (
    SignatureChecker,
    check_public_key,
    generate_key_files,
    key_id,
    load_private_key,
    load_public_key,
    public_key_path_for,
    raw_public_bytes,
    signature_checker,
)

if TYPE_CHECKING:
    from attest.signing.results import PREDICATE_TYPE, LoggedResult, read_result, result_statement, sign_result

__all__ = [
    "PREDICATE_TYPE",
    "Envelope",
    "LoggedResult",
    "Signature",
    "SignatureChecker",
    "check_public_key",
    "generate_key_files",
    "key_id",
    "load_private_key",
    "load_public_key",
    "pae",
    "public_key_path_for",
    "raw_public_bytes",
    "read_result",
    "result_statement",
    "sign_result",
    "signature_checker",
]

# Results are signed and read only by some commands (verify --dock-key, log, dock): loaded on first use.
__getattr__ = lazy_exports(
    __name__,
    dict.fromkeys(
        ("PREDICATE_TYPE", "LoggedResult", "read_result", "result_statement", "sign_result"), "attest.signing.results"
    ),
)
