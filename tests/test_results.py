"""Signed results: the in-toto Statement, its predicate, and the DSSE envelope that becomes a log entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import rfc8785
from _logkit import T0, make_result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import LogError
from attest.model import BaselineRef, Finding, FindingKind, Result, Severity, Verdict
from attest.signing import Envelope, read_result, result_statement, sign_result
from attest.signing.results import PAYLOAD_TYPE, PREDICATE_TYPE


def test_statement_has_every_predicate_field() -> None:
    """verdict, findings, baseline, device, dock, nonce, per-component method and time are all there."""
    r = make_result(3)
    st = result_statement(r, dock_id="dock1", now=T0)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == PREDICATE_TYPE
    p = st["predicate"]
    assert p["verdict"] == "drift"
    assert p["time"] == "2027-01-01T00:00:00Z"
    assert p["dock"] == {"id": "dock1"}
    assert p["device"]["id"] == "drone-0"
    assert p["device"]["facts"] == {"board": "px4"}
    assert p["baseline"] == {"name": "companion", "version": 3, "digest": "ee" * 32}
    assert p["nonce"] == f"{3:064x}"
    assert [f["kind"] for f in p["findings"]] == ["modified", "unexpected"]
    c = p["collection"]
    assert c["components"] == 3
    assert c["method"] == "dock-read"
    assert c["otherMethods"] == {"etc/app.conf": "device-reported"}
    assert c["methodCounts"] == {"device-reported": 1, "dock-read": 2}
    assert c["collectedAt"] == "2027-01-01T00:03:00Z"


def test_subject_digest_is_the_canonical_measurement() -> None:
    """The subject names the device and digests exactly the measured components."""
    r = make_result(1)
    assert r.evidence is not None
    st = result_statement(r, dock_id="d", now=T0)
    measured = {n: c.to_json() for n, c in sorted(r.evidence.components.items())}
    assert st["subject"] == [
        {"name": "device:drone-1", "digest": {"sha256": hashlib.sha256(rfc8785.dumps(measured)).hexdigest()}}
    ]


def test_result_without_evidence() -> None:
    """An untrusted baseline before collection still gives a complete, unique statement."""
    r = make_result(2, verdict=Verdict.UNTRUSTED, evidence=False)
    a = result_statement(r, dock_id="d", now=T0)
    b = result_statement(r, dock_id="d", now=T0)
    assert a["predicate"]["collection"] is None
    assert a["predicate"]["message"] == "baseline signature does not verify"
    assert a["subject"][0]["digest"]["sha256"] == hashlib.sha256(b"{}").hexdigest()
    assert len(a["predicate"]["nonce"]) == 64
    assert a["predicate"]["nonce"] != b["predicate"]["nonce"], "a fresh nonce every time"
    no_device = Result(Verdict.ERROR, None, BaselineRef(None, None, None), message="no such device")
    st = result_statement(no_device, dock_id="d", now=T0)
    assert st["subject"][0]["name"] == "device:unknown"
    assert st["predicate"]["device"] is None


def test_sign_result_is_a_verifiable_compact_dsse_envelope() -> None:
    """The entry is compact JSON, canonical payload, signed by the dock key over PAE."""
    key = Ed25519PrivateKey.generate()
    data = sign_result(make_result(3), key, dock_id="dock1", now=T0)
    assert b" " not in data.split(b'"payload"')[0]
    assert json.loads(data).keys() == {"payload", "payloadType", "signatures"}
    env = Envelope.from_bytes(data)
    assert env.payload_type == PAYLOAD_TYPE
    assert env.verified_keys([key.public_key()]) == [key.public_key()]
    assert env.verified_keys([Ed25519PrivateKey.generate().public_key()]) == []
    assert env.payload == rfc8785.dumps(json.loads(env.payload))
    assert data == sign_result(make_result(3), key, dock_id="dock1", now=T0), "deterministic"


def test_values_rfc8785_cannot_encode_are_stringified() -> None:
    """NaN, huge integers, bytes and non-UTF-8 names do not break signing."""
    weird = (
        Finding("fc/params", FindingKind.OUT_OF_RANGE, Severity.HIGH, float("nan"), 2**70),
        Finding("bad\udcffname", FindingKind.MISSING, Severity.MEDIUM, b"\x01\x02", None),
    )
    r = replace(make_result(0), verdict=Verdict.DRIFT, findings=weird)
    data = sign_result(r, Ed25519PrivateKey.generate(), dock_id="d", now=T0)
    findings = read_result(data, index=0).findings
    assert findings[0]["expected"] == "nan"
    assert findings[0]["actual"] == str(2**70)
    assert findings[1]["component"] == "bad\\xffname"
    assert findings[1]["expected"] == "0102"


def test_read_result_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    r = read_result(sign_result(make_result(8), key, dock_id="dock1", now=T0), index=8)
    assert (r.index, r.verdict, r.device_id, r.dock_id) == (8, "drift", "drone-2", "dock1")
    assert r.time == datetime(2027, 1, 1, tzinfo=UTC)
    assert r.baseline_label() == "companion v3"
    assert r.to_json()["finding_count"] == 2


@pytest.mark.parametrize(
    "entry",
    [
        b"not json",
        b"[]",
        b'{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}',
        b'{"payload":"!!","payloadType":"x","signatures":[]}',
    ],
)
def test_read_result_names_the_bad_index(entry: bytes) -> None:
    with pytest.raises(LogError) as e:
        read_result(entry, index=17)
    assert e.value.index == 17
    assert "entry 17" in str(e.value)


def _resigned(statement: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    return Envelope(statement, payload_type).signed_by(key).to_bytes()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda p: p.replace(b'"verdict":"drift"', b'"verdict":"drift","verdict":"pass"'), "duplicate key"),
        (lambda p: p.replace(b'"version":3', b'"version":' + b"1" * 5000), "exact range"),
        (lambda p: p.replace(b'"message":null', b'"message":' + b"[" * 5000 + b"]" * 5000), "nested deeper"),
        (lambda p: p.replace(b'"verdict":"drift"', b'"verdict":"ok"'), "verdict 'ok' is not one of"),
        (lambda p: p.replace(b'"verdict":"drift"', b'"verdict":1'), "verdict is int"),
        (lambda p: p.replace(b"result/v1", b"baseline/v1"), "predicateType is 'https://drone-attest.dev/baseline/v1'"),
        (lambda p: p.replace(b"Statement/v1", b"Statement/v0"), "_type is not"),
        (lambda p: p.replace(b'"nonce":', b'"extra":1,"nonce":'), "unknown fields ['extra']"),
        (lambda p: p.replace(b'"time":"2027-01-01T00:00:00Z"', b'"time":"yesterday"'), "yesterday"),
        (lambda p: p.replace(b'"component":"usr/bin/px4"', b'"component":7'), "finding 0.component is int"),
        (lambda p: p.replace(b'"version":3', b'"version":true'), "baseline.version is bool"),
    ],
)
def test_read_result_applies_strict_rules_to_signed_payloads(edit: Callable[[bytes], bytes], why: str) -> None:
    """A payload the dock key signed is still refused, naming the rule, if it is not a result Statement."""
    key = Ed25519PrivateKey.generate()
    payload = Envelope.from_bytes(sign_result(make_result(3), key, dock_id="dock1", now=T0)).payload
    bad = edit(payload)
    assert bad != payload
    with pytest.raises(LogError, match="entry 4: not a drone-attest result") as e:
        read_result(_resigned(bad, key), index=4)
    assert why in str(e.value)
    assert e.value.index == 4


def test_read_result_refuses_another_payload_type() -> None:
    key = Ed25519PrivateKey.generate()
    payload = Envelope.from_bytes(sign_result(make_result(3), key, dock_id="dock1", now=T0)).payload
    with pytest.raises(LogError, match="payloadType is 'text/plain'"):
        read_result(_resigned(payload, key, "text/plain"), index=0)
