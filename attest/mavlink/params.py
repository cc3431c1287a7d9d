"""Flight-controller parameters: decoding both transports into one canonical set.

Two ways to read the whole set (reference §4):

* ArduPilot's ``@PARAM/param.pck`` over MAVLink FTP: a packed file whose
  bytes depend on the FTP read size (pad bytes keep values inside blocks), so
  it is decoded and never hashed as bytes;
* PARAM_VALUE messages, whose ``param_value`` float carries integers either
  C-cast (ArduPilot) or bytewise (PX4, capability ``PARAM_ENCODE_BYTEWISE``).

Both become :class:`Param` values with one type vocabulary, and
:func:`params_digest` hashes sorted ``name, type, value`` lines, so the same
settings hash the same whichever way they were read. One limit: an integer
above 2**24 sent C-cast in a float loses low bits, so it can differ from the
exact param.pck value (a false drift, never a false pass).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "PCK_MAGIC",
    "PCK_MAGIC_DEFAULTS",
    "Param",
    "ParamFormatError",
    "decode_pck",
    "encode_pck",
    "param_from_value",
    "param_value_fields",
    "params_digest",
    "value_text",
]

PCK_MAGIC = 0x671B
PCK_MAGIC_DEFAULTS = 0x671C

#: param.pck type nibble -> (our type, struct format)
_PCK_TYPES = {1: ("int8", "<b"), 2: ("int16", "<h"), 3: ("int32", "<i"), 4: ("float32", "<f")}
_PCK_CODES = {t: (code, fmt) for code, (t, fmt) in _PCK_TYPES.items()}
#: MAV_PARAM_TYPE -> (our type, struct format for bytewise decoding)
_MAV_TYPES = {
    1: ("uint8", "<B"),
    2: ("int8", "<b"),
    3: ("uint16", "<H"),
    4: ("int16", "<h"),
    5: ("uint32", "<I"),
    6: ("int32", "<i"),
    9: ("float32", "<f"),
}
_MAV_CODES = {t: code for code, (t, _f) in _MAV_TYPES.items()}
_NAME_OK = frozenset(range(0x21, 0x7F))


class ParamFormatError(ValueError):
    """The parameter data is malformed (the caller turns it into a CollectionError)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter.

    Attributes:
        name: up to 16 printable ASCII characters.
        type: ``int8``, ``int16``, ``int32``, ``uint8``, ``uint16``, ``uint32`` or ``float32``.
        value: an ``int`` for integer types, a ``float`` (exactly a float32) otherwise.
    """

    name: str
    type: str
    value: int | float

    def canonical(self) -> str:
        """``name<TAB>type<TAB>value``: floats as the exact hex of their float32 bits."""
        text = struct.pack("<f", self.value).hex() if isinstance(self.value, float) else str(self.value)
        return f"{self.name}\t{self.type}\t{text}"

    def text(self) -> str:
        """The value as people read it, one text per value the controller can hold (:func:`value_text`)."""
        return value_text(self.value)


def value_text(value: float) -> str:  # an int is a float here (PEP 484)
    """``value`` as text: an integer in decimal; a float32 as the shortest decimal that reads back as it.

    ``1500``, ``0.25``, ``0.1`` (not ``0.10000000149011612``), ``-0``, ``inf``;
    a NaN keeps its bits (``nan(0x7fc00000)``). Two float32 values have the same
    text exactly when they have the same bits, so comparing texts compares the
    values the autopilot holds.
    """
    if not isinstance(value, float):
        return str(value)
    bits = struct.pack("<f", value)
    if math.isnan(value):
        return f"nan(0x{struct.unpack('<I', bits)[0]:08x})"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    for digits in range(1, 10):  # 9 significant digits always read back as the same float32
        candidate = f"{value:.{digits}g}"
        try:
            if struct.pack("<f", float(candidate)) == bits:
                text = candidate
                break
        except OverflowError:  # rounded past the float32 range: take more digits
            continue
    out = repr(float(text))  # 1e+06 -> 1000000.0; 0.25 stays 0.25
    return out.removesuffix(".0")


def params_digest(params: Iterable[Param]) -> str:
    r"""SHA-256 of the sorted canonical lines of ``params`` (one ``\\n`` after each)."""
    h = hashlib.sha256()
    for p in sorted(params, key=lambda p: p.name):
        h.update(p.canonical().encode("ascii") + b"\n")
    return h.hexdigest()


def _check_name(raw: bytes) -> str:
    if not raw or len(raw) > 16 or not all(b in _NAME_OK for b in raw):
        raise ParamFormatError(f"bad parameter name {raw!r}")
    return raw.decode("ascii")


def decode_pck(data: bytes) -> list[Param]:
    """Decode a complete ``@PARAM/param.pck`` file.

    Raises:
        ParamFormatError: bad magic, a truncated or malformed record, a
            duplicate name, a subset (``num_params < total_params``), or a
            count that disagrees with the header.
    """
    if len(data) < 6:
        raise ParamFormatError(f"param.pck too short ({len(data)} bytes)")
    magic, num, total = struct.unpack_from("<HHH", data)
    if magic not in (PCK_MAGIC, PCK_MAGIC_DEFAULTS):
        raise ParamFormatError(f"param.pck magic 0x{magic:04x}, expected 0x{PCK_MAGIC:04x}")
    if num != total:
        raise ParamFormatError(f"param.pck holds {num} of {total} parameters (a subset)")
    with_defaults = magic == PCK_MAGIC_DEFAULTS
    out: list[Param] = []
    seen: set[str] = set()
    last = b""
    i, n = 6, len(data)
    while True:
        while i < n and data[i] == 0:  # pad bytes keep values inside one FTP block
            i += 1
        if i >= n:
            break
        if len(out) == num:
            raise ParamFormatError(f"param.pck has data after its {num} parameters")
        if n - i < 2:
            raise ParamFormatError("param.pck: truncated record header")
        tbyte, lbyte = data[i], data[i + 1]
        kind = _PCK_TYPES.get(tbyte & 0x0F)
        if kind is None:
            raise ParamFormatError(f"param.pck: bad type {tbyte & 0x0F} at byte {i}")
        size = struct.calcsize(kind[1])
        has_default = with_defaults and tbyte >> 4 & 1
        name_len, common = (lbyte >> 4) + 1, lbyte & 0x0F
        end = i + 2 + name_len + size * (2 if has_default else 1)
        if end > n:
            raise ParamFormatError("param.pck: truncated record")
        if common > len(last):
            raise ParamFormatError(f"param.pck: name prefix {common} longer than previous name")
        raw = last[:common] + data[i + 2 : i + 2 + name_len]
        name = _check_name(raw)
        if name in seen:
            raise ParamFormatError(f"param.pck: {name} appears twice")
        (value,) = struct.unpack_from(kind[1], data, i + 2 + name_len)
        out.append(Param(name, kind[0], value))
        seen.add(name)
        last = raw
        i = end
    if len(out) != num:
        raise ParamFormatError(f"param.pck: header says {num} parameters, found {len(out)}")
    return out


def encode_pck(params: Iterable[Param], *, block: int = 239) -> bytes:
    """Encode ``params`` as ArduPilot does (values only, no record straddles a ``block``).

    Used by the simulated controller; the dock only decodes.

    Raises:
        ValueError: a type param.pck cannot carry (misuse).
    """
    plist = list(params)
    out = bytearray(struct.pack("<HHH", PCK_MAGIC, len(plist), len(plist)))
    last = b""
    for p in plist:
        code, fmt = _PCK_CODES[p.type]
        name = p.name.encode("ascii")
        common = 0
        while common < min(len(last), len(name) - 1, 15) and last[common] == name[common]:
            common += 1
        rest = name[common:]
        rec = bytes((code, (len(rest) - 1) << 4 | common)) + rest + struct.pack(fmt, p.value)
        if len(out) // block != (len(out) + len(rec) - 1) // block:
            out += bytes(block - len(out) % block)  # pad to the next block
        out += rec
        last = name
    return bytes(out)


def param_from_value(name_raw: bytes, bits: bytes, mav_type: int, *, bytewise: bool) -> Param:
    """A :class:`Param` from PARAM_VALUE fields.

    Args:
        name_raw: the ``param_id`` bytes (NUL-terminated when shorter than 16).
        bits: the 4 bytes of ``param_value`` as received (a little-endian float32).
        mav_type: MAV_PARAM_TYPE.
        bytewise: the controller encodes integers bytewise (PX4) rather than C-cast.

    Raises:
        ParamFormatError: bad name, unsupported type, or a C-cast integer that is not whole.
    """
    name = _check_name(bytes(name_raw).split(b"\0", 1)[0])
    kind = _MAV_TYPES.get(mav_type)
    if kind is None:
        raise ParamFormatError(f"{name}: unsupported MAV_PARAM_TYPE {mav_type}")
    (value,) = struct.unpack("<f", bits)
    if kind[0] == "float32":
        return Param(name, "float32", value)
    if bytewise:
        size = struct.calcsize(kind[1])
        return Param(name, kind[0], struct.unpack(kind[1], bits[:size])[0])
    if not math.isfinite(value) or value != int(value):
        raise ParamFormatError(f"{name}: integer parameter sent as {value!r}")
    return Param(name, kind[0], int(value))


def param_value_fields(p: Param, *, bytewise: bool) -> tuple[bytes, int]:
    """``(param_value bits, MAV_PARAM_TYPE)`` to send ``p`` in a PARAM_VALUE (for the simulator)."""
    code = _MAV_CODES[p.type]
    if p.type == "float32" or not bytewise:
        return struct.pack("<f", float(p.value)), code
    return struct.pack(_MAV_TYPES[code][1], p.value).ljust(4, b"\0"), code
