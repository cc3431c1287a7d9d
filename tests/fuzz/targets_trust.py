"""Targets for what the trust decision reads: strict JSON, DSSE envelopes, baseline payloads, policies, keys, state."""

from __future__ import annotations

import json
import os

import rfc8785

from attest.baseline import PAYLOAD_TYPE, Baseline
from attest.errors import BaselineError, ConfigError
from attest.jsonutil import JSONFormatError, loads, loads_canonical
from attest.signing import Envelope, load_private_key, load_public_key
from attest.trust import RollbackState, TrustPolicy, trust_baseline

from .core import Target, attempt
from .fixtures import NOW, workspace

__all__ = ["TARGETS"]


def _json(data: bytes) -> None:
    loads(data)
    loads_canonical(data)


def _json_seeds() -> list[bytes]:
    w = workspace()
    return [
        w.payload,
        w.envelope,
        w.entries[0],
        b'{"companion": 3}',
        b'[1, -2.5e10, "\\u00e9\\ud83d\\ude00", null, true, false, {"a": [{}]}]',
        b"9007199254740991",
    ]


def _trust(data: bytes) -> None:
    """The dock's whole decision on a baseline file: envelope, signatures, then (if signed) the payload."""
    w = workspace()
    trust_baseline(data, policy=w.policy, state=RollbackState(w.state_dir()), now=NOW, source="fuzz")


def _envelope_seeds() -> list[bytes]:
    w = workspace()
    env = Envelope.from_bytes(w.envelope)
    both = env.signed_by(w.fleet[1])
    return [
        w.envelope,
        env.to_bytes(),
        both.to_bytes(),
        Envelope(w.payload, "text/plain").signed_by(w.fleet[0]).to_bytes(),
        b'{"payload":"","payloadType":"","signatures":[]}',
    ]


def _payload(data: bytes) -> None:
    """A payload as a fleet manager would sign it: parsed as signed bytes, then signed and trusted.

    Non-canonical JSON is refused by :meth:`Baseline.from_payload`; to reach the
    Statement parser with what a mutation makes of the structure too, input that is
    JSON is also signed in its canonical form and run through the trust decision.
    """
    w = workspace()
    attempt((BaselineError,), Baseline.from_payload, data, source="fuzz")
    try:
        canonical = rfc8785.dumps(loads(data))
    except (JSONFormatError, rfc8785.CanonicalizationError):
        return  # not JSON a signer could sign: the first call covered it
    envelope = Envelope(canonical, PAYLOAD_TYPE).signed_by(w.fleet[0]).to_bytes()
    trust_baseline(envelope, policy=w.policy, state=RollbackState(w.state_dir()), now=NOW, source="fuzz")


def _payload_seeds() -> list[bytes]:
    w = workspace()
    statement = json.loads(w.payload)
    pretty = json.dumps(statement, indent=1).encode()
    statement["predicate"]["expires"] = None
    statement["predicate"]["compare"] = {"owner": False}
    return [w.payload, pretty, rfc8785.dumps(statement)]


def _policy(data: bytes) -> None:
    path = workspace().policy_dir / "fuzz.toml"
    path.write_bytes(data)
    TrustPolicy.from_file(path)


def _policy_seeds() -> list[bytes]:
    w = workspace()
    return [
        (w.policy_dir / "trust.toml").read_bytes(),
        b'threshold = 2\nkeys = [{id = "a", public_key = "fleet1.pub"}, {id = "b", public_key = "fleet2.pub"}]\n',
        b'threshold = 1\n[[keys]]\nid = "x"\npublic_key = "fleet1.key"\n',
    ]


def _key(data: bytes) -> None:
    """A key file: as a public key (trust policies, --vkey sources) and as a private key (0600)."""
    scratch = workspace().scratch
    public = scratch / "fuzz.pub"
    public.write_bytes(data)
    attempt((ConfigError,), load_public_key, public)
    private = scratch / "fuzz.key"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    load_private_key(private)


def _key_seeds() -> list[bytes]:
    d = workspace().policy_dir
    return [(d / "fleet1.pub").read_bytes(), (d / "fleet1.key").read_bytes()]


def _rollback(data: bytes) -> None:
    w = workspace()
    d = w.scratch / "rollback"
    d.mkdir(exist_ok=True)
    (d / RollbackState.FILE).write_bytes(data)
    state = RollbackState(d)
    attempt((ConfigError,), state.highest, "companion")
    state.check_and_accept("companion", 3)


def _rollback_seeds() -> list[bytes]:
    w = workspace()
    d = w.scratch / "rollback-seed"
    state = RollbackState(d)
    state.check_and_accept("companion", 2)
    state.check_and_accept("flight-controller", 7)
    return [(d / RollbackState.FILE).read_bytes(), b"{}", b'{"companion": 9007199254740991}']


TARGETS = [
    Target("json", "attest.jsonutil.loads / loads_canonical", _json, (JSONFormatError,), _json_seeds),
    Target(
        "dsse_envelope",
        "attest.trust.trust_baseline: a baseline file (DSSE envelope, signatures, payload)",
        _trust,
        (BaselineError, ConfigError),
        _envelope_seeds,
    ),
    Target(
        "baseline_payload",
        "attest.baseline.Baseline.from_payload, and trust_baseline of the payload signed",
        _payload,
        (BaselineError, ConfigError),
        _payload_seeds,
    ),
    Target("trust_policy", "attest.trust.TrustPolicy.from_file", _policy, (ConfigError,), _policy_seeds, 16 * 1024),
    Target("key_file", "attest.signing.load_public_key / load_private_key", _key, (ConfigError,), _key_seeds, 4096),
    Target(
        "rollback_state",
        "attest.trust.RollbackState: highest / check_and_accept on a state file",
        _rollback,
        (ConfigError, BaselineError),
        _rollback_seeds,
        16 * 1024,
    ),
]
