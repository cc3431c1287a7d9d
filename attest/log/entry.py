"""What a log entry must be, a result signed by the log's own key in one byte form, and checking a million fast.

The log's key signs both its checkpoints (as notes) and every entry (as
DSSE), so a fleet manager needs only the vkey to check everything. This
module checks one entry fast, because ``attest log verify`` checks a million:
libsodium (PyNaCl, installed with paramiko) verifies Ed25519 about twice as
fast as OpenSSL here; ``cryptography`` is the fallback and the reference.
"""

from __future__ import annotations

import binascii
import hashlib
import multiprocessing
import os
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.errors import LogError
from attest.jsonutil import JSONFormatError, loads
from attest.log.layout import ENTRIES, INDEX, open_regular, pread_exact
from attest.log.merkle import HASH_SIZE
from attest.log.tiles import TILE_WIDTH, reduce_pairs
from attest.signing import Envelope, Signature, pae, read_result

__all__ = [
    "CHUNK",
    "MAX_ENTRY_BYTES",
    "PAYLOAD_TYPE",
    "RESULTS_ONLY",
    "Chunk",
    "ChunkResult",
    "EntryChecker",
    "EntryKinds",
    "EntryReader",
    "check_chunk",
    "check_chunks",
    "check_entry",
    "dsse_key_id",
    "entry_problem",
    "kind_of",
    "make_verifier",
    "signed_by",
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
    """Standard, padded, canonical base64 (what our signer writes); ``None`` for anything else."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            return None
    if not isinstance(text, bytes):
        return None
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (ValueError, binascii.Error):
        return None
    # strict_mode still accepts set unused bits ("AB==" for "AA=="): only one text may carry these bytes.
    return raw if binascii.b2a_base64(raw, newline=False) == text else None


#: ``read(entry, index=i)``: an entry's content under one in-toto predicate type, or ``LogError`` naming the rule
#: it breaks (e.g. ``attest.dock.event_row``). It is given the entry's bytes; a reader that returns a
#: :class:`~attest.signing.LoggedResult` makes the entry a row of ``attest log show`` and ``export``.
EntryReader = Callable[..., object]
#: The entry kinds a log may hold besides results: in-toto ``predicateType`` -> its reader.
EntryKinds = Mapping[str, EntryReader]
#: Results only: every log holds results (:func:`attest.signing.read_result`); other kinds are named by the caller.
RESULTS_ONLY: EntryKinds = MappingProxyType({})

_PREDICATE_TYPE_KEY = b'"predicateType":"'


def _declared_type(payload: bytes) -> str | None:
    """The payload's top-level ``predicateType`` as written, to pick a reader (which then checks everything).

    In RFC 8785 order it is the last key but ``subject``, so the last occurrence is
    the top-level one for any entry our writers make; a payload that misleads this
    only reaches a reader that refuses it, never one that accepts it.
    """
    at = payload.rfind(_PREDICATE_TYPE_KEY)
    if at < 0:
        return None
    start = at + len(_PREDICATE_TYPE_KEY)
    end = payload.find(b'"', start, start + 256)
    return payload[start:end].decode("utf-8", "replace") if end > 0 else None


def kind_of(entry: bytes, kinds: EntryKinds) -> str | None:
    """Which of ``kinds`` an entry declares itself to be, or ``None`` (then it must be a result).

    A hint for picking the reader, which checks everything; see :func:`_declared_type`.
    """
    if not kinds:
        return None
    envelope = _envelope(entry) if len(entry) <= MAX_ENTRY_BYTES else "too large"
    declared = _declared_type(envelope.payload) if not isinstance(envelope, str) else None
    return declared if declared in kinds else None


def dsse_key_id(public: bytes) -> str:
    """The DSSE ``keyid`` hint our signers write: hex SHA-256 of the raw public key."""
    return hashlib.sha256(public).hexdigest()


#: The envelope our signer writes (one signature, compact JSON, fields in this order). Matching it is not
#: parsing JSON: base64 and hex cannot hold escapes, so a match is exactly this JSON text; anything else
#: takes the general path through :func:`attest.jsonutil.loads`, which explains what is wrong.
_ONE_FORM = re.compile(
    rb'\{"payload":"([A-Za-z0-9+/]*={0,2})","payloadType":"application/vnd\.in-toto\+json",'
    rb'"signatures":\[\{"keyid":"([0-9a-f]{64})","sig":"([A-Za-z0-9+/]{86}==)"\}\]\}'
)


def _envelope(entry: bytes) -> Envelope | str:  # noqa: PLR0911 (one reason each)
    """The entry's envelope, or why it is not one in the form the log stores."""
    m = _ONE_FORM.fullmatch(entry)
    if m is not None:
        payload, sig = _b64(m[1]), _b64(m[3])
        if payload is not None and sig is not None:
            return Envelope(payload, PAYLOAD_TYPE, (Signature(m[2].decode("ascii"), sig),))
    try:
        obj = loads(entry)
    except JSONFormatError as e:
        return f"not strict JSON ({e}), expected a DSSE envelope"
    if not isinstance(obj, dict):
        return "not a DSSE envelope (expected a JSON object)"
    payload, ptype, sigs = _b64(obj.get("payload")), obj.get("payloadType"), obj.get("signatures")
    if payload is None or not isinstance(ptype, str) or not isinstance(sigs, list):
        return "not a DSSE envelope (needs payload in canonical base64, payloadType, signatures)"
    if ptype != PAYLOAD_TYPE:
        return f"payloadType is {ptype[:80]!r}, expected {PAYLOAD_TYPE!r}"
    parsed = []
    for n, s in enumerate(sigs):
        sig = _b64(s.get("sig")) if isinstance(s, dict) else None
        hint = s.get("keyid") if isinstance(s, dict) else None
        if sig is None or not isinstance(hint, str):
            return f"signature {n} is not a keyid and a sig in canonical base64"
        parsed.append(Signature(hint, sig))
    envelope = Envelope(payload, ptype, tuple(parsed))
    if envelope.to_bytes() != entry:
        return "not in the one envelope form the log stores (compact JSON, fields in order, canonical base64)"
    return envelope


def entry_problem(
    entry: bytes, verify: EntryChecker, keyid: str, *, index: int = 0, kinds: EntryKinds = RESULTS_ONLY
) -> str | None:
    """Why ``entry`` is not a log entry, or ``None`` when it is.

    A log entry is a signed Statement of a kind the log holds, in one byte form:

    1. a DSSE envelope whose bytes are exactly those
       :meth:`attest.signing.Envelope.to_bytes` writes (compact JSON, fields
       in order, standard padded canonical base64), so no other text carries
       the same signature; any other JSON is parsed by :func:`attest.jsonutil.loads`
       only to say what is wrong;
    2. payload type :data:`PAYLOAD_TYPE`, and a valid Ed25519 signature by
       the log's key;
    3. its payload a result Statement by the rules of
       :func:`attest.signing.read_result` (strict JSON, in-toto Statement v1,
       the result predicate), or a Statement of one of ``kinds`` by the rules
       of its reader: what ``verify`` passes, the readers can read.

    Args:
        entry: the entry's bytes.
        verify: a checker from :func:`make_verifier` for the log's key.
        keyid: that key's DSSE keyid (:func:`dsse_key_id`); signatures with a
            different non-empty hint are skipped, never trusted because of it.
        index: the entry's index (for messages from the readers).
        kinds: other entry kinds the log holds, by predicate type (e.g. the
            dock's events); results are always allowed.
    """
    if len(entry) > MAX_ENTRY_BYTES:
        return f"larger than {MAX_ENTRY_BYTES} bytes"
    envelope = _envelope(entry)
    if isinstance(envelope, str):
        return envelope
    message = pae(envelope.payload_type, envelope.payload)
    if not any((not s.keyid or s.keyid == keyid) and verify(s.sig, message) for s in envelope.signatures):
        return "no valid signature by the log's key"
    reader = kinds.get(_declared_type(envelope.payload) or "") if kinds else None
    try:
        if reader is not None:
            reader(entry, index=index)
        else:
            read_result(envelope, index=index)
    except LogError as e:
        return f"signed by the log's key, but {str(e).removeprefix(f'entry {index}: ')}"
    return None


def signed_by(entry: bytes, public: bytes) -> bool:
    """Whether ``entry`` is an envelope with a valid signature by the raw ``public`` key (its payload unchecked).

    How ``attest log verify`` tells a wrong verifier key (entries not signed
    by it either) from a replaced checkpoint (entries signed, checkpoint not).
    """
    envelope = _envelope(entry) if len(entry) <= MAX_ENTRY_BYTES else "too large"
    if isinstance(envelope, str):
        return False
    verify, message = make_verifier(public), pae(envelope.payload_type, envelope.payload)
    return any(verify(s.sig, message) for s in envelope.signatures)


def check_entry(entry: bytes, public: bytes, *, index: int = 0, kinds: EntryKinds = RESULTS_ONLY) -> str | None:
    """Why one ``entry`` is not a signed entry (a result, or one of ``kinds``) by the raw ``public`` key, or ``None``.

    The one-entry form of :func:`entry_problem` (``attest log verify-proof``);
    checking many entries, make the verifier once instead.
    """
    return entry_problem(entry, make_verifier(public), dsse_key_id(public), index=index, kinds=kinds)


# -- checking many entries fast (attest log verify) ----------------------------------------------

#: Entries per unit of parallel work (a multiple of the tile width).
CHUNK = 8192
#: Below this many entries the check runs in-process: starting workers costs more than it saves.
PARALLEL_FROM = 4096

_BAD_LEAF = b"\0" * HASH_SIZE
#: Read a chunk's entries in one call when they span at most this many bytes.
_BLOCK = 256 * 1024 * 1024

Chunk = tuple[str, bytes, int, int, int, EntryKinds]
ChunkResult = tuple[int, bytes, bytes, list[tuple[int, str]]]


def check_chunks(tasks: Sequence[Chunk], *, workers: int | None = None) -> Iterator[ChunkResult]:
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

    ``task`` is ``(log directory, raw public key, first, count, size of entries, other entry kinds)``
    (the kinds a plain ``dict``: it is pickled to the workers); the size is the
    audit's snapshot, so bytes appended since are never read. Returns ``first``, the leaf hashes,
    the level-1 tile hashes of the complete tiles in the chunk, and ``(index, problem)`` pairs.
    """
    directory, public, first, count, size, kinds = task
    verify, keyid = make_verifier(public), dsse_key_id(public)
    problems: list[tuple[int, str]] = []
    leaves = bytearray()
    d = Path(directory)
    lo = first - 1 if first else 0
    fd = open_regular(d / INDEX)
    try:
        raw = pread_exact(fd, (first + count - lo) * 8, lo * 8)
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
        block = pread_exact(fd, hi - lo, lo) if 0 <= lo <= hi <= size and hi - lo <= _BLOCK else None
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
            # Damaged index records may run backwards: only an entry inside the block is sliced from it.
            inside = block is not None and lo <= start and end <= hi
            rec = block[start - lo : end - lo] if block is not None and inside else pread_exact(fd, end - start, start)
            if int.from_bytes(rec[:4], "big") != end - start - 4:
                problems.append((i, f"entry {i}: length prefix disagrees with {INDEX}"))
            entry = rec[4:]
            leaves += hashlib.sha256(b"\x00" + entry).digest()  # merkle.leaf_hash, inlined: a million calls
            why = entry_problem(entry, verify, keyid, index=i, kinds=kinds)
            if why is not None:
                problems.append((i, f"entry {i}: {why}"))
    finally:
        os.close(fd)
    tile = TILE_WIDTH * HASH_SIZE
    full = len(leaves) // tile * tile if first % TILE_WIDTH == 0 else 0
    level1 = b"".join(reduce_pairs(bytes(leaves[j : j + tile])) for j in range(0, full, tile))
    return first, bytes(leaves), level1, problems
