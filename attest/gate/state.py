"""The gate's cache: each drone's latest dock event in the log, so that a check never scans the log.

``GATE_DIR/state.json`` is a DSSE envelope signed by the dock key over
canonical JSON::

    {"origin": <the log's origin>, "size": N, "root": <hex root of the first N entries>,
     "written": <time>, "drones": {"UAV-07": {"index": 12, "since": <time>}, ...}}

It says where to look, never what to decide: the gate verifies the entry it
points at (signature, inclusion under the current checkpoint) and judges that.
``size`` and ``root`` pin the log it was made from: a log that is shorter, or
whose first ``size`` entries hash to another root, is damaged or rolled back.
Entries appended after the state was written (a dock killed between its
append and its update, or a state file restored from a backup) are read on
every check, so an old state can never hide a newer event; beyond
:data:`MAX_TAIL` entries the check refuses to guess and blocks until the
state is brought up to date (the next dock event, or ``attest gate rebuild``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785

from attest.dock import peek_drone, read_event
from attest.errors import AttestError, ConfigError, LogError
from attest.jsonutil import loads
from attest.log import Checkpoint, Log, VerifierKey
from attest.signing import Envelope, load_private_key, load_public_key, public_key_path_for, signature_checker
from attest.signing import pae as dsse_pae
from attest.statedir import PrivateDir, read_state_file
from attest.timeutil import format_time, parse_time

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "MAX_TAIL",
    "STATE_PAYLOAD_TYPE",
    "DroneMark",
    "GateState",
    "dock_public_key",
    "read_state",
    "scan",
    "update_state",
    "verified_checkpoint",
]

STATE_FILE = "state.json"
STATE_PAYLOAD_TYPE = "application/vnd.drone-attest.gate-state+json"
#: Entries past the state a check reads itself before it blocks and asks for the state to be brought up to date.
MAX_TAIL = 10_000
#: A state file holds one short line per drone.
MAX_STATE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class DroneMark:
    """Where a drone's latest dock event is.

    Attributes:
        index: its log index.
        verdict: its verdict as read when the state was written (informational).
        since: the time of the first event of the current run of passes (or of non-passes).
    """

    index: int
    verdict: str
    since: datetime


@dataclass
class GateState:
    """The cache: the log it covers and each drone's latest event index.

    Attributes:
        origin: the log's origin.
        size: how many entries of the log it covers.
        root: the RFC 6962 root of those entries.
        drones: drone name -> its latest event.
        written: when it was written.
    """

    origin: str
    size: int
    root: bytes
    drones: dict[str, DroneMark] = field(default_factory=dict)
    written: datetime | None = None

    def payload(self) -> bytes:
        """The canonical JSON that is signed."""
        data: dict[str, Any] = {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "written": format_time(self.written or datetime.now(UTC)),
            "drones": {
                name: {"index": m.index, "verdict": m.verdict, "since": format_time(m.since)}
                for name, m in sorted(self.drones.items())
            },
        }
        return bytes(rfc8785.dumps(data))

    @classmethod
    def from_payload(cls, payload: bytes) -> GateState:
        """Parse the signed payload (strict JSON; its signature was checked, so no canonical-form check).

        Raises:
            ValueError: not JSON of this shape.
        """
        data = loads(payload)
        if not isinstance(data, dict) or not isinstance(data.get("drones"), dict):
            raise TypeError("not a gate state object")
        size = data["size"]
        if type(size) is not int or size < 0 or not isinstance(data["origin"], str):
            raise ValueError("bad origin or size")
        drones = {}
        for name, m in data["drones"].items():
            if not isinstance(m, dict) or type(m.get("index")) is not int or not 0 <= m["index"] < size:
                raise ValueError(f"bad entry for {name!r}")
            drones[name] = DroneMark(m["index"], str(m.get("verdict")), parse_time(str(m["since"])))
        return cls(data["origin"], size, bytes.fromhex(data["root"]), drones, parse_time(str(data["written"])))


def dock_public_key(key: Path) -> Ed25519PublicKey:
    """The dock's public key: ``KEY.pub`` beside the private key when it exists (no secret needed), else derived.

    Raises:
        ConfigError: neither can be loaded.
    """
    pub = public_key_path_for(key)
    if pub.exists():
        return load_public_key(pub)
    return load_private_key(key).public_key()


def read_state(gate_dir: Path, public: Ed25519PublicKey, origin: str) -> tuple[GateState | None, str | None]:
    """The state, if present and signed by ``public`` for ``origin``; else ``(None, why)``."""
    path = gate_dir / STATE_FILE
    try:
        data = read_state_file(path, MAX_STATE_BYTES, what="gate state")
    except ConfigError as e:
        return None, f"{path}: unusable gate state: {e}"
    return _parse_state(data, path, public, origin)


def _parse_state(
    data: bytes | None, path: Path, public: Ed25519PublicKey, origin: str
) -> tuple[GateState | None, str | None]:
    if data is None:
        return None, "no gate state yet"
    try:
        env = Envelope.from_bytes(data, source=str(path))
        if env.payload_type != STATE_PAYLOAD_TYPE:
            raise ValueError(f"payloadType is not {STATE_PAYLOAD_TYPE}")
        check = signature_checker(public)
        message = dsse_pae(env.payload_type, env.payload)
        if not any(check(s.sig, message) for s in env.signatures):
            raise ValueError("not signed by the dock key")
        state = GateState.from_payload(env.payload)
        if state.origin != origin:
            raise ValueError(f"for origin {state.origin!r}, not {origin!r}")
    except (AttestError, ValueError, TypeError, KeyError) as e:
        return None, f"{path}: unusable gate state: {e}"
    return state, None


def _write_state(gate: PrivateDir, state: GateState, key: Ed25519PrivateKey) -> None:
    """Sign ``state`` with the dock key and replace the state file atomically (the owner's, when root writes it).

    Raises:
        ConfigError: it cannot be written.
    """
    env = Envelope(state.payload(), STATE_PAYLOAD_TYPE).signed_by(key)
    gate.write(STATE_FILE, env.to_bytes())


def verified_checkpoint(log: Log, vkey: VerifierKey) -> Checkpoint | None:
    """The log's checkpoint, its signature checked with ``vkey`` (``None`` for an empty log).

    Raises:
        LogError: the checkpoint does not verify, or the stored data does not lead to its root.
    """
    if log.size == 0:
        return None
    checkpoint, _ = log.prove(log.size - 1).verify(vkey, source=f"{log.directory}/checkpoint")
    return checkpoint


def scan(log: Log, start: int, stop: int, marks: dict[str, DroneMark]) -> None:
    """Read entries ``start .. stop - 1`` and move each drone's mark to its newest dock event.

    An entry that looks like a dock event but does not read as one still
    becomes its drone's mark (verdict ``unreadable``): the check then reads
    it, fails, and blocks, rather than passing over it to an older pass.
    """
    for index, entry in log.entries(start, stop):
        is_event, drone = peek_drone(entry)
        if not is_event or drone is None:
            continue
        try:
            event = read_event(entry, index=index)
            verdict, when = event.verdict, event.time
        except LogError:
            verdict, when = "unreadable", datetime.now(UTC)
        old = marks.get(drone)
        same_run = old is not None and (old.verdict == "pass") == (verdict == "pass")
        marks[drone] = DroneMark(index, verdict, old.since if same_run and old is not None else when)


@contextlib.contextmanager
def _locked(gate_dir: Path) -> Iterator[PrivateDir]:
    """The gate's directory, opened once (a link put at its name later is never followed), its lock held."""
    with PrivateDir.open(gate_dir) as gate:
        fd = gate.lock_file("state.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield gate
        finally:
            os.close(fd)


def update_state(
    gate_dir: Path, log_dir: Path, origin: str, key: Ed25519PrivateKey, *, rebuild: bool = False
) -> GateState:
    """Bring the state up to the log's current checkpoint.

    Called by the dock after each logged event, and by ``attest gate rebuild``
    (``rebuild``). A missing or unusable state is rebuilt from the first entry.
    A valid state that the log contradicts (the log is shorter, or its first
    ``size`` entries have another root: rolled back or replaced) is a witness
    of that and is kept, so the gate stays shut, unless ``rebuild`` says an
    operator has looked and accepts the log as it is.

    Raises:
        LogError: the log's checkpoint or stored data does not verify, or it
            contradicts the state (the state is left as it was).
        ConfigError: the log or the state cannot be read or written.
    """
    vkey = VerifierKey.for_key(origin, key.public_key())
    with _locked(gate_dir) as gate, Log.read(log_dir) as log:
        checkpoint = verified_checkpoint(log, vkey)
        data = gate.read(STATE_FILE, MAX_STATE_BYTES, what="gate state")
        state, _ = _parse_state(data, gate.path / STATE_FILE, key.public_key(), origin)
        if state is not None and (state.size > log.size or state.root != log.root(state.size)):
            if not rebuild:
                raise LogError(
                    f"{log_dir} has {log.size} entries and does not extend the {state.size} the gate state saw "
                    "(rolled back or replaced?); the gate stays shut until `attest gate rebuild`"
                )
            state = None
        marks = dict(state.drones) if state is not None else {}
        scan(log, state.size if state is not None else 0, log.size, marks)
        new = GateState(
            origin,
            log.size,
            checkpoint.root if checkpoint is not None else log.root(0),
            marks,
            datetime.now(UTC),
        )
        _write_state(gate, new, key)
        return new
