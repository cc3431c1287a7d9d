r"""Component names for paths whose bytes need not be UTF-8.

A Linux file name is any bytes but ``/`` and NUL; baselines are JSON, which
needs text. :func:`encode_name` maps bytes to text injectively: valid UTF-8
stays as it is, a backslash becomes ``\\\\`` and every byte that is not part
of valid UTF-8 becomes ``\\xNN``. :func:`decode_name` inverts it.
"""

from __future__ import annotations

import re

__all__ = ["decode_name", "encode_name"]

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})?")


def encode_name(raw: bytes) -> str:
    """Text form of a raw path (relative, ``/``-separated)."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        try:
            text = raw[i:].decode("utf-8")
        except UnicodeDecodeError as e:
            text = raw[i : i + e.start].decode("utf-8")
            out.append(text.replace("\\", "\\\\"))
            out.append("".join(f"\\x{b:02x}" for b in raw[i + e.start : i + e.end]))
            i += e.end
            continue
        out.append(text.replace("\\", "\\\\"))
        break
    return "".join(out)


def decode_name(name: str) -> bytes:
    """Raw bytes of a name made by :func:`encode_name`.

    Raises:
        ValueError: ``name`` has a backslash that is not a valid escape.
    """
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(name):
        esc = m.group(1)
        if esc is None:
            raise ValueError(f"bad escape in name {name!r}")
        out += name[pos : m.start()].encode("utf-8")
        out += b"\\" if esc == "\\" else bytes([int(esc[1:], 16)])
        pos = m.end()
    out += name[pos:].encode("utf-8")
    return bytes(out)
