"""Real inputs for the fuzz targets, made with attest's own code: keys, a trust policy, a signed baseline, a log.

Everything lives in one temporary workspace per process (removed at exit).
Keys are derived from fixed seeds, so an input that carries a signature (a
signed envelope kept as a regression) still verifies in a later run.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.attestation import Attestation, run_attestation
from attest.baseline import PAYLOAD_TYPE, Baseline
from attest.collectors import DirectoryCollector
from attest.log import Log, TlogProof, VerifierKey
from attest.rules import Rule
from attest.selection import Selection
from attest.signing import Envelope, load_private_key, raw_public_bytes, sign_result
from attest.sim import make_tree
from attest.trust import RollbackState, TrustPolicy

__all__ = ["NOW", "ORIGIN", "Workspace", "fixed_key", "workspace"]

#: The fixed "now" of every trust decision in the targets (baselines expire in 2031).
NOW = datetime(2027, 1, 1, tzinfo=UTC)
#: The log's origin (its checkpoints' first line and its key name).
ORIGIN = "dock.fuzz.example/log"


def fixed_key(label: str) -> Ed25519PrivateKey:
    """An Ed25519 key derived from ``label``: the same in every run."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"attest-fuzz:" + label.encode()).digest())


def _write_key_files(key: Ed25519PrivateKey, private_path: Path) -> Path:
    """Write ``key`` as attest key files (PKCS#8 PEM, 0600; the .pub beside it) and return the .pub path."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private_path.write_bytes(pem)
    private_path.chmod(0o600)
    pub = private_path.with_suffix(".pub")
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pub


@dataclass(frozen=True)
class Workspace:
    """The fixtures of one fuzzing process.

    Attributes:
        root: the temporary directory holding everything below.
        fleet: the fleet-manager signing keys (``fleet-1``, ``fleet-2``).
        policy_dir: a directory with ``trust.toml`` (threshold 1) and both public keys.
        policy: that policy, loaded.
        scratch: a directory a target may write its input into.
        tree: a simulated companion filesystem (``attest sim tree``).
        envelope: a baseline of ``tree``, signed by ``fleet-1`` (envelope bytes).
        payload: its canonical Statement payload.
        dock_key: the dock's key (signs results and checkpoints).
        vkey: the log's verifier key.
        entries: signed results (real log entries) of verifying ``tree``.
        checkpoint: the log's signed checkpoint note after appending ``entries``.
        proofs: a tlog-proof of each entry.
    """

    root: Path
    fleet: tuple[Ed25519PrivateKey, ...]
    policy_dir: Path
    policy: TrustPolicy
    scratch: Path
    tree: Path
    envelope: bytes
    payload: bytes
    dock_key: Ed25519PrivateKey
    vkey: VerifierKey
    entries: tuple[bytes, ...]
    checkpoint: bytes
    proofs: tuple[bytes, ...]

    def state_dir(self) -> Path:
        """A rollback-state directory whose file was removed: every trust decision starts from nothing."""
        d = self.scratch / "state"
        (d / RollbackState.FILE).unlink(missing_ok=True)
        return d


def _baseline(tree: Path) -> Baseline:
    collector = DirectoryCollector(str(tree))
    settings = {"selection": Selection.from_args(["**"], ["var/log/**"]).to_json(), **collector.settings_extras()}
    evidence = collector.collect(settings, nonce="00" * 32)
    return Baseline.from_evidence(
        evidence,
        name="companion",
        version=3,
        collection=settings,
        expires=datetime(2031, 1, 1, tzinfo=UTC),
        device_match=collector.selector(evidence, pin_instance=False),
        rules={r.name: r for r in (Rule.parse("param/FENCE_ENABLE=1"), Rule.parse("param/RTL_ALT=1000..3000"))},
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )


@functools.cache
def workspace() -> Workspace:
    """The fixtures of this process, made on first use."""
    root = Path(tempfile.mkdtemp(prefix="attest-fuzz-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    fleet = (fixed_key("fleet-1"), fixed_key("fleet-2"))
    policy_dir = root / "policy"
    policy_dir.mkdir()
    for i, key in enumerate(fleet, 1):
        _write_key_files(key, policy_dir / f"fleet{i}.key")
    (policy_dir / "trust.toml").write_text(
        'threshold = 1\n[[keys]]\nid = "fleet-1"\npublic_key = "fleet1.pub"\n'
        '[[keys]]\nid = "fleet-2"\npublic_key = "fleet2.pub"\n'
    )
    policy = TrustPolicy.from_file(policy_dir / "trust.toml")
    scratch = root / "scratch"
    scratch.mkdir()
    tree = root / "tree"
    make_tree(tree)
    baseline = _baseline(tree)
    payload = baseline.to_payload()
    envelope = Envelope(payload, PAYLOAD_TYPE).signed_by(fleet[0]).to_bytes(indent=2)
    baseline_file = root / "companion.json"
    baseline_file.write_bytes(envelope)

    dock_key = fixed_key("dock")
    _write_key_files(dock_key, root / "dock.key")
    vkey = VerifierKey.for_key(ORIGIN, load_private_key(root / "dock.key").public_key())
    results = []
    for nonce in ("11" * 32, "22" * 32):
        job = Attestation(str(tree), baseline_file, policy, RollbackState(root / "state"), nonce)
        results.append(sign_result(run_attestation(job), dock_key, dock_id="dock-fuzz", now=NOW))
    (tree / "etc" / "hostname").write_bytes(b"tampered\n")  # a drift result too
    job = Attestation(str(tree), baseline_file, policy, RollbackState(root / "state"), "33" * 32)
    results.append(sign_result(run_attestation(job), dock_key, dock_id="dock-fuzz", now=NOW))
    with Log.open(root / "log", origin=ORIGIN, create=True) as log:
        for entry in results:
            log.append(entry, key=dock_key)
        checkpoint = log.checkpoint_note
        proofs = tuple(log.prove(i).to_bytes() for i in range(log.size))
    if checkpoint is None:  # pragma: no cover - a log with entries has a checkpoint
        raise RuntimeError("the fixture log has no checkpoint")
    assert raw_public_bytes(vkey.public_key) == raw_public_bytes(dock_key.public_key())
    assert TlogProof.from_bytes(proofs[0]).verify(vkey)  # the fixtures themselves are valid
    return Workspace(
        root=root,
        fleet=fleet,
        policy_dir=policy_dir,
        policy=policy,
        scratch=scratch,
        tree=tree,
        envelope=envelope,
        payload=payload,
        dock_key=dock_key,
        vkey=vkey,
        entries=tuple(results),
        checkpoint=checkpoint,
        proofs=proofs,
    )
