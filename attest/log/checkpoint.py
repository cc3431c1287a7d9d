"""C2SP tlog-checkpoints (``c2sp.org/tlog-checkpoint``): the signed head of the log.

The note text is three lines: the origin, the tree size in decimal, and the
base64 RFC 6962 root hash (optional extension lines may follow; we write
none and keep any we read). The log signs it with the dock's Ed25519 key
under the key name = origin, as one C2SP signed note.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attest.errors import LogError
from attest.log.merkle import HASH_SIZE
from attest.log.note import Note, VerifierKey, b64decode_canonical, check_key_name, sign_note

__all__ = ["Checkpoint", "open_checkpoint"]

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log, how many entries, which root.

    Attributes:
        origin: the log's unique name; also the key name of its signature.
        size: the number of entries.
        root: the 32-byte RFC 6962 root hash.
        extensions: extra non-empty lines after the root, kept verbatim.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        """The note text (what is signed)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def sign(self, key: Ed25519PrivateKey) -> bytes:
        """The checkpoint as a signed note, signed by ``key`` under the name = origin.

        Raises:
            ConfigError: the origin cannot be a key name.
        """
        return sign_note(self.text(), self.origin, key)

    @classmethod
    def from_text(cls, text: bytes, *, source: str = "checkpoint") -> Checkpoint:
        """Parse checkpoint note text (after its signature was verified, or for display only).

        Raises:
            LogError: fewer than three lines, bad origin, size or root.
        """
        try:
            lines = text.decode("utf-8").split("\n")
        except UnicodeDecodeError as e:
            raise LogError(f"{source}: not UTF-8") from e
        if len(lines) < 4 or lines[-1] != "":
            raise LogError(f"{source}: expected origin, size and root hash lines")
        origin, size_text, root_text, *ext = lines[:-1]
        why = check_key_name(origin)
        if why is not None:
            raise LogError(f"{source}: bad origin line {origin!r}: {why}")
        if not _DECIMAL.fullmatch(size_text):
            raise LogError(f"{source}: tree size {size_text!r} is not a decimal number without leading zeros")
        try:
            root = b64decode_canonical(root_text)
        except (ValueError, binascii.Error) as e:
            raise LogError(f"{source}: root hash is not canonical base64") from e
        if len(root) != HASH_SIZE:
            raise LogError(f"{source}: root hash is {len(root)} bytes (expected {HASH_SIZE})")
        if any(not line for line in ext):
            raise LogError(f"{source}: empty extension line")
        return cls(origin, int(size_text), root, tuple(ext))


def open_checkpoint(data: bytes, vkey: VerifierKey, *, source: str = "checkpoint") -> Checkpoint:
    """Verify a signed checkpoint with the log's key, then parse it.

    The origin must equal the key name: a log signs under its own origin.

    Raises:
        LogError: malformed, not signed by ``vkey``, or for another origin.
    """
    note = Note.parse(data, source=source)
    note.verify([vkey], source=source)
    cp = Checkpoint.from_text(note.text, source=source)
    if cp.origin != vkey.name:
        raise LogError(f"{source}: origin is {cp.origin!r}, expected {vkey.name!r} (the key name)")
    return cp
