"""Clearance tickets: made only when clear, short-lived, and checkable by a ground station without this package."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Fleet, make_fleet, run_attest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from dock_fixture import Dock, directory_drone

from attest._cli import main
from attest.gate import TicketError, verify_ticket
from attest.log import Log, VerifierKey


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return make_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def cleared(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Dock:
    """A dock whose UAV-07 has just passed, and whose UAV-08 drifted."""
    dock = Dock(tmp_path_factory.mktemp("dock") / "dock", fleet)
    directory_drone(dock, "UAV-07")
    directory_drone(dock, "UAV-08")
    dock.write()
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    (dock.dir / "UAV-08-companion" / "etc" / "hostname").write_text("tampered\n")
    assert cli(dock, "dock", "--drone", "UAV-08")[0] == 1
    return dock


def cli(dock: Dock, *args: str) -> tuple[int, str]:
    """``attest ARGS`` in this process, with ``--config`` after the (sub)command for dock and gate commands."""
    argv = list(args)
    if args[0] == "dock" or (args[0] == "gate" and args[1] != "verify-ticket"):
        at = 1 if args[0] == "dock" else 2
        argv = [*args[:at], "--config", str(dock.config), *args[at:]]
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def _vkey(dock: Dock) -> VerifierKey:
    return VerifierKey.parse(dock.vkey())


def test_a_clear_drone_gets_a_ticket_that_verifies(cleared: Dock, tmp_path: Path) -> None:
    ticket = tmp_path / "UAV-07.ticket"
    code, out = cli(cleared, "gate", "ticket", "UAV-07", "--out", str(ticket))
    assert code == 0, out
    vkey = cleared.vkey()
    r = run_attest(["gate", "verify-ticket", ticket, "--vkey", vkey, "--drone", "UAV-07"])
    assert r.code == 0, r.out + r.err
    assert r.out.startswith(f"VALID: {ticket} clears UAV-07 until ")
    t = verify_ticket(ticket.read_bytes(), _vkey(cleared))
    assert timedelta(minutes=9) < t.not_after - t.not_before <= timedelta(minutes=10)
    p = t.predicate
    with Log.read(cleared.log) as log:
        entry = log.entry(p["event"]["log_index"])
        root = log.root()
        size = log.size
    assert p["event"]["digest"]["sha256"] == hashlib.sha256(entry).hexdigest()
    assert p["log"] == {"origin": cleared.origin, "size": size, "root": base64.b64encode(root).decode()}
    assert [b["part"] for b in p["baselines"]] == ["companion"]


def test_a_blocked_drone_gets_no_ticket(cleared: Dock, tmp_path: Path) -> None:
    ticket = tmp_path / "UAV-08.ticket"
    code, out = cli(cleared, "gate", "ticket", "UAV-08", "--out", str(ticket))
    assert code == 1
    assert "BLOCKED: UAV-08" in out
    assert not ticket.exists()
    assert cli(cleared, "gate", "ticket", "UAV-99", "--out", str(ticket))[0] == 1
    assert not ticket.exists()


@pytest.fixture(scope="module")
def ticket(cleared: Dock, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ticket") / "t.json"
    assert cli(cleared, "gate", "ticket", "UAV-07", "--out", str(path))[0] == 0
    return path


def test_wrong_drone_is_invalid(cleared: Dock, ticket: Path) -> None:
    code, out = cli(cleared, "gate", "verify-ticket", str(ticket), "--vkey", cleared.vkey(), "--drone", "UAV-08")
    assert code == 1
    assert "INVALID" in out
    assert "clears 'UAV-07', not 'UAV-08'" in out


def test_another_docks_key_is_invalid(cleared: Dock, ticket: Path, tmp_path: Path, fleet: Fleet) -> None:
    other = Dock(tmp_path / "other", fleet, origin="dock-9.example/attest")
    code, out = cli(cleared, "gate", "verify-ticket", str(ticket), "--vkey", other.vkey())
    assert code == 1
    assert "not signed by the key of dock dock-9.example/attest" in out


def test_the_same_key_under_another_origin_is_the_wrong_dock(cleared: Dock, ticket: Path) -> None:
    from attest.signing import load_private_key

    key = load_private_key(cleared.dir / "dock.key")
    renamed = VerifierKey.for_key("dock-4.example/attest", key.public_key())
    with pytest.raises(TicketError, match=r"a ticket of dock 'dock-test\.example/attest'"):
        verify_ticket(ticket.read_bytes(), renamed)


def test_expired_and_not_yet_valid(cleared: Dock, ticket: Path) -> None:
    vkey = _vkey(cleared)
    t = verify_ticket(ticket.read_bytes(), vkey)
    with pytest.raises(TicketError, match="expired at"):
        verify_ticket(ticket.read_bytes(), vkey, now=t.not_after)
    verify_ticket(ticket.read_bytes(), vkey, now=t.not_before - timedelta(seconds=20))  # within the leeway
    with pytest.raises(TicketError, match="not valid before"):
        verify_ticket(ticket.read_bytes(), vkey, now=t.not_before - timedelta(minutes=5))


@pytest.mark.parametrize("what", ["payload", "signature", "not json"])
def test_an_altered_ticket_is_invalid(cleared: Dock, ticket: Path, what: str) -> None:
    env = json.loads(ticket.read_bytes())
    if what == "payload":
        st = json.loads(base64.b64decode(env["payload"]))
        st["predicate"]["notAfter"] = "2099-01-01T00:00:00Z"
        env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
        data = json.dumps(env).encode()
    elif what == "signature":
        sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
        sig[0] ^= 1
        env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
        data = json.dumps(env).encode()
    else:
        data = b"{not json"
    with pytest.raises(TicketError):
        verify_ticket(data, _vkey(cleared))


def test_a_ticket_never_outlives_the_pass(tmp_path: Path, fleet: Fleet) -> None:
    dock = Dock(tmp_path, fleet, gate={"fresh_for": "2m", "ticket_valid_for": "1h"})
    directory_drone(dock, "UAV-07")
    dock.write()
    assert cli(dock, "dock", "--drone", "UAV-07")[0] == 0
    assert cli(dock, "gate", "ticket", "UAV-07", "--out", str(tmp_path / "t"))[0] == 0
    t = verify_ticket((tmp_path / "t").read_bytes(), _vkey(dock))
    assert t.not_after <= datetime.now(UTC) + timedelta(minutes=2)


def test_a_ground_station_checks_a_ticket_with_the_documented_steps_only(cleared: Dock, ticket: Path) -> None:
    """docs/dock.md's recipe, with nothing but JSON, base64 and an Ed25519 library."""
    vkey_text = cleared.vkey()
    name, _key_id, key_b64 = vkey_text.split("+", 2)  # base64 may hold "+" too: split on the first two
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1  # Ed25519
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    env = json.loads(ticket.read_bytes())
    payload = base64.b64decode(env["payload"])
    ptype = env["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
    ok = False
    for s in env["signatures"]:
        try:
            public.verify(base64.b64decode(s["sig"]), pae)
            ok = True
        except InvalidSignature:
            pass
    assert ok
    st = json.loads(payload)
    assert st["predicateType"] == "https://drone-attest.dev/clearance/v1"
    p = st["predicate"]
    assert p["log"]["origin"] == name
    assert p["drone"] == "UAV-07"
    now = datetime.now(UTC)
    assert datetime.fromisoformat(p["notBefore"]) <= now
    assert now < datetime.fromisoformat(p["notAfter"])
