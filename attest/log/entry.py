"""What a log entry must be, a DSSE envelope signed by the log's own key, and checking a million fast.

The log's key signs both its checkpoints (as notes) and every entry (as
DSSE), so a fleet manager needs only the vkey to check everything. This
module checks one entry fast, because ``attest log verify`` checks a million:
libsodium (PyNaCl, installed with paramiko) verifies Ed25519 about twice as
fast as OpenSSL here; ``cryptography`` is the fallback and the reference.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import multiprocessing
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.log.layout import ENTRIES, INDEX, open_regular
from attest.log.merkle import HASH_SIZE
from attest.log.tiles import TILE_WIDTH, reduce_pairs
from attest.signing import pae

__all__ = [
    "CHUNK",
    "MAX_ENTRY_BYTES",
    "PAYLOAD_TYPE",
    "Chunk",
    "ChunkResult",
    "EntryChecker",
    "check_chunk",
    "check_chunks",
    "check_entry",
    "dsse_key_id",
    "entry_problem",
    "make_verifier",
]

#: The largest entry the log stores or reads (a result with ~300,000 findings).
MAX_ENTRY_BYTES = 64 * 1024 * 1024

#: The DSSE payload type of every entry: an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"

#: ``verify(signature, message) -> bool``
EntryChecker = Callable[[bytes, bytes], bool]


def _cryptography_verifier(public: bytes) -> EntryChecker:
    key = Ed25519PublicKey.from_public_bytes(public)

    def verify(sig: bytes, message: bytes) -> bool:
        try:
            key.verify(sig, message)
        except InvalidSignature:
            return False
        return True

    return verify


def _sodium_verifier(public: bytes) -> EntryChecker | None:
    try:
        from nacl.bindings import crypto_sign_open
        from nacl.exceptions import BadSignatureError
    except ImportError:
        return None

    def verify(sig: bytes, message: bytes) -> bool:
        if len(sig) != 64:
            return False
        try:
            crypto_sign_open(sig + message, public)
        except BadSignatureError:
            return False
        return True

    return verify


def make_verifier(public: bytes, *, fast: bool = True) -> EntryChecker:
    """An Ed25519 signature check for the raw 32-byte ``public`` key.

    Args:
        public: the raw public key.
        fast: use libsodium when it is installed (same answers, half the time).
    """
    if fast:
        v = _sodium_verifier(public)
        if v is not None:
            return v
    return _cryptography_verifier(public)


def _b64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # standard base64, the fast path
    except (ValueError, binascii.Error):
        pass
    try:  # DSSE verifiers must accept URL-safe base64 too
        s = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def dsse_key_id(public: bytes) -> str:
    """The DSSE ``keyid`` hint our signers write: hex SHA-256 of the raw public key."""
    return hashlib.sha256(public).hexdigest()


def entry_problem(entry: bytes, verify: EntryChecker, keyid: str) -> str | None:  # noqa: PLR0911 (one reason each)
    """Why ``entry`` is not a DSSE envelope signed by the log's key, or ``None`` when it is.

    Args:
        entry: the entry's bytes.
        verify: a checker from :func:`make_verifier` for the log's key.
        keyid: that key's DSSE keyid (:func:`dsse_key_id`); signatures with a
            different non-empty hint are skipped, never trusted because of it.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        return f"larger than {MAX_ENTRY_BYTES} bytes"
    try:
        obj = json.loads(entry)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "not JSON (expected a DSSE envelope)"
    if not isinstance(obj, dict):
        return "not a DSSE envelope (expected a JSON object)"
    payload, ptype, sigs = _b64(obj.get("payload")), obj.get("payloadType"), obj.get("signatures")
    if payload is None or not isinstance(ptype, str) or not isinstance(sigs, list):
        return "not a DSSE envelope (needs payload, payloadType, signatures)"
    if ptype != PAYLOAD_TYPE:
        return f"payloadType is {ptype[:80]!r}, expected {PAYLOAD_TYPE!r}"
    message = pae(ptype, payload)
    for s in sigs:
        if not isinstance(s, dict):
            continue
        hint = s.get("keyid", "")
        if hint and hint != keyid:
            continue
        sig = _b64(s.get("sig"))
        if sig is not None and verify(sig, message):
            return None
    return "no valid signature by the log's key"


def check_entry(entry: bytes, public: bytes) -> str | None:
    """Why one ``entry`` is not a DSSE envelope signed by the raw 32-byte ``public`` key, or ``None``.

    The one-entry form of :func:`entry_problem` (``attest log verify-proof``);
    checking many entries, make the verifier once instead.
    """
    return entry_problem(entry, make_verifier(public), dsse_key_id(public))


# -- checking many entries fast (attest log verify) ----------------------------------------------

#: Entries per unit of parallel work (a multiple of the tile width).
CHUNK = 8192
#: Below this many entries the check runs in-process: starting workers costs more than it saves.
PARALLEL_FROM = 4096

_BAD_LEAF = b"\0" * HASH_SIZE
#: Read a chunk's entries in one call when they span at most this many bytes.
_BLOCK = 256 * 1024 * 1024

Chunk = tuple[str, bytes, int, int, int]
ChunkResult = tuple[int, bytes, bytes, list[tuple[int, str]]]


def check_chunks(tasks: list[Chunk], *, workers: int | None = None) -> Iterator[ChunkResult]:
    """Run :func:`check_chunk` over ``tasks``, in one process per core when there are enough entries.

    Results come back in the order of ``tasks``.
    """
    count = sum(t[3] for t in tasks)
    n = workers if workers is not None else len(os.sched_getaffinity(0))
    if count < PARALLEL_FROM or n <= 1:
        yield from map(check_chunk, tasks)
        return
    # fork: the workers need nothing but their arguments, and start in milliseconds.
    with multiprocessing.get_context("fork").Pool(n) as pool:
        yield from pool.imap(check_chunk, tasks)


def check_chunk(task: Chunk) -> ChunkResult:
    """Check entries ``first .. first + count - 1``: framing, signature, leaf hash (runs in a worker).

    ``task`` is ``(log directory, raw public key, first, count, size of entries)``; the size is the
    audit's snapshot, so bytes appended since are never read. Returns ``first``, the leaf hashes,
    the level-1 tile hashes of the complete tiles in the chunk, and ``(index, problem)`` pairs.
    """
    directory, public, first, count, size = task
    verify, keyid = make_verifier(public), dsse_key_id(public)
    problems: list[tuple[int, str]] = []
    leaves = bytearray()
    d = Path(directory)
    lo = first - 1 if first else 0
    fd = open_regular(d / INDEX)
    try:
        raw = os.pread(fd, (first + count - lo) * 8, lo * 8)
    finally:
        os.close(fd)
    ends = list(struct.unpack(f">{len(raw) // 8}Q", raw[: len(raw) // 8 * 8]))
    if first == 0:
        ends.insert(0, 0)
    if len(ends) < count + 1:  # a short index: the missing entries were reported by the caller
        ends += [ends[-1] if ends else 0] * (count + 1 - len(ends))
    fd = open_regular(d / ENTRIES)
    try:
        lo, hi = ends[0], ends[-1]
        block = os.pread(fd, hi - lo, lo) if 0 <= lo <= hi <= size and hi - lo <= _BLOCK else None
        for k in range(count):
            i, start, end = first + k, ends[k], ends[k + 1]
            if not start + 4 <= end <= start + 4 + MAX_ENTRY_BYTES:
                problems.append((i, f"entry {i}: {INDEX} gives an impossible offset ({start}..{end})"))
                leaves += _BAD_LEAF
                continue
            if end > size:
                problems.append((i, f"entry {i}: {ENTRIES} is truncated"))
                leaves += _BAD_LEAF
                continue
            rec = block[start - lo : end - lo] if block is not None else os.pread(fd, end - start, start)
            if int.from_bytes(rec[:4], "big") != end - start - 4:
                problems.append((i, f"entry {i}: length prefix disagrees with {INDEX}"))
            entry = rec[4:]
            leaves += hashlib.sha256(b"\x00" + entry).digest()  # merkle.leaf_hash, inlined: a million calls
            why = entry_problem(entry, verify, keyid)
            if why is not None:
                problems.append((i, f"entry {i}: {why}"))
    finally:
        os.close(fd)
    tile = TILE_WIDTH * HASH_SIZE
    full = len(leaves) // tile * tile if first % TILE_WIDTH == 0 else 0
    level1 = b"".join(reduce_pairs(bytes(leaves[j : j + tile])) for j in range(0, full, tile))
    return first, bytes(leaves), level1, problems
