"""C2SP tlog-proof files (``c2sp.org/tlog-proof@v1``): an entry's offline inclusion proof.

```
c2sp.org/tlog-proof@v1
extra <base64 of the entry's bytes>
index <0-based index>
<base64 hash>            (the RFC 6962 audit path, leaf sibling first)

<the checkpoint note, verbatim>
```

The ``extra`` line is unauthenticated by itself; here it carries the whole
entry (its DSSE envelope), whose leaf hash ``SHA-256(0x00 || entry)`` the
inclusion proof then authenticates, so a proof stands alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from attest.errors import LogError
from attest.log.checkpoint import Checkpoint, open_checkpoint
from attest.log.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from attest.log.note import MAX_NOTE_BYTES, VerifierKey, b64decode_canonical

__all__ = ["HEADER", "MAX_PROOF_BYTES", "TlogProof"]

HEADER = b"c2sp.org/tlog-proof@v1"

#: A proof carries one entry (at most 64 MiB, base64-grown by 4/3), 64 hashes and a checkpoint.
MAX_PROOF_BYTES = 96 * 1024 * 1024

_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class TlogProof:
    """A parsed tlog-proof. Holding one proves nothing: call :meth:`verify`.

    Attributes:
        index: the entry's 0-based index.
        path: the inclusion proof hashes, leaf sibling first.
        checkpoint: the signed checkpoint note, verbatim.
        extra: the opaque extra data (here: the entry's bytes), if present.
    """

    index: int
    path: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        """The proof file's bytes."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append(b"extra " + base64.b64encode(self.extra))
        lines.append(b"index %d" % self.index)
        lines += [base64.b64encode(h) for h in self.path]
        return b"\n".join(lines) + b"\n\n" + self.checkpoint

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "proof") -> TlogProof:
        """Parse a proof file.

        Raises:
            LogError: too large, wrong header, or a malformed line.
        """
        if len(data) > MAX_PROOF_BYTES:
            raise LogError(f"{source}: larger than {MAX_PROOF_BYTES} bytes")
        head, sep, checkpoint = data.partition(b"\n\n")
        if not sep:
            raise LogError(f"{source}: no empty line before the checkpoint")
        lines = head.split(b"\n")
        if lines[0] != HEADER:
            raise LogError(f"{source}: not a tlog-proof (first line is not {HEADER.decode()})")
        pos = 1
        extra = None
        if pos < len(lines) and lines[pos].startswith(b"extra "):
            extra = _b64(lines[pos][6:], f"{source}: extra line")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith(b"index "):
            raise LogError(f"{source}: no index line")
        index_text = lines[pos][6:]
        if not _DECIMAL.fullmatch(index_text):
            raise LogError(f"{source}: index {index_text[:30]!r} is not a decimal number without leading zeros")
        path = []
        for n, line in enumerate(lines[pos + 1 :], 1):
            h = _b64(line, f"{source}: proof hash {n}")
            if len(h) != HASH_SIZE:
                raise LogError(f"{source}: proof hash {n} is {len(h)} bytes (expected {HASH_SIZE})")
            path.append(h)
        if len(path) > 64:
            raise LogError(f"{source}: more than 64 proof hashes")
        if len(checkpoint) > MAX_NOTE_BYTES:
            raise LogError(f"{source}: checkpoint larger than {MAX_NOTE_BYTES} bytes")
        return cls(int(index_text), tuple(path), checkpoint, extra)

    def verify(self, vkey: VerifierKey, *, source: str = "proof") -> tuple[Checkpoint, bytes]:
        """Check the checkpoint's signature and the entry's inclusion under it.

        Returns:
            The verified checkpoint and the entry bytes (now authenticated).

        Raises:
            LogError: no entry bytes, a bad checkpoint, or the entry is not in the tree.
        """
        cp = open_checkpoint(self.checkpoint, vkey, source=f"{source}: checkpoint")
        if self.extra is None:
            raise LogError(f"{source}: no extra line with the entry's bytes, so its leaf hash is unknown")
        try:
            verify_inclusion(self.index, cp.size, leaf_hash(self.extra), self.path, cp.root)
        except LogError as e:
            raise LogError(f"{source}: {e}", index=self.index) from e
        return cp, self.extra


def _b64(text: bytes, what: str) -> bytes:
    try:
        return b64decode_canonical(text)
    except (ValueError, binascii.Error) as e:
        raise LogError(f"{what} is not canonical base64") from e
