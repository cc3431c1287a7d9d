"""Hostile APKs: every malformed, ambiguous, forged or oversized input ends in one ApkFormatError, reads bounded.

No apksigner needed: the APKs come from the pure-Python builder
(``fuzz.apk_build``, whose output apksigner accepts: test_apk_certs.py), then
are broken on purpose. A 10 GB "APK" is a file object that makes up its bytes
and counts what the parser reads.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from fuzz.apk_build import (
    LINEAGE_ATTR,
    ROTATION_MIN_SDK_ATTR,
    STRIPPING_ATTR,
    V2,
    SchemeSigner,
    insert_block,
    lineage_value,
    make_key,
    pair,
    sign_apk,
    signing_block,
    split_zip,
    unsigned_apk,
    v1_sign,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.apk import (
    ApkFormatError,
    ApkLimits,
    ApkNotSignedError,
    ApkSigning,
    TailSource,
    read_signing,
    read_signing_from_tail,
)
from attest.errors import CollectionError

OLD, NEW, OTHER = make_key("hostile-old"), make_key("hostile-new"), make_key("hostile-other")
GiB = 1 << 30


def parse(data: bytes, **kwargs: object) -> ApkSigning:
    return read_signing(io.BytesIO(data), **kwargs)  # type: ignore[arg-type]


def good() -> bytes:
    return sign_apk(v1_sign(unsigned_apk(), OLD), v2=[SchemeSigner(OLD)], v3=[SchemeSigner(OLD, min_sdk=28)])


class Huge(io.RawIOBase):
    """A seekable file of ``size`` bytes: zeros, then ``tail`` at the very end; counts the bytes read."""

    def __init__(self, size: int, tail: bytes = b"") -> None:
        self.size, self.tail, self.pos, self.bytes_read = size, tail, 0, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self.pos = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence] + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        assert n <= 64 << 20, f"the parser asked for {n} bytes at once"
        tail_start = self.size - len(self.tail)
        out = bytearray(n)
        lo, hi = max(self.pos, tail_start), self.pos + n
        if hi > lo:
            out[lo - self.pos : hi - self.pos] = self.tail[lo - tail_start : hi - tail_start]
        self.pos += n
        self.bytes_read += n
        return bytes(out)


# -- the good case first, so every rejection below is a change from an accepted APK --------------------


def test_the_baseline_apk_is_accepted() -> None:
    """The unbroken APK parses: v1, v2 and v3, all one signer."""
    signing = parse(good())
    assert signing.scheme == "v3"
    assert signing.digests == (OLD.sha256,)
    assert [s.scheme for s in signing.schemes] == ["v1", "v2", "v3"]


def test_the_error_is_a_collection_error_exit_3() -> None:
    with pytest.raises(CollectionError) as e:
        parse(b"not a zip")
    assert isinstance(e.value, ApkFormatError)
    assert e.value.exit_code == 3


# -- size --------------------------------------------------------------------------------------------


def test_a_10_gb_apk_is_refused_without_reading_it() -> None:
    """A 10 GB file is larger than any APK without ZIP64: refused before a byte is read."""
    f = Huge(10 * GiB, good())
    with pytest.raises(ApkFormatError, match="larger than"):
        read_signing(f)  # type: ignore[arg-type]
    assert f.bytes_read == 0


def test_a_10_gb_apk_with_a_raised_limit_reads_only_its_end() -> None:
    """Size limit lifted: a real APK at the end of 10 GB is still refused (offsets cannot reach it); reads bounded."""
    f = Huge(10 * GiB, good())
    with pytest.raises(ApkFormatError, match="does not end where the end record starts"):
        read_signing(f, limits=ApkLimits(max_apk_size=16 * GiB))  # type: ignore[arg-type]
    assert f.bytes_read <= 70_000


def test_a_10_gb_file_of_zeros_reads_only_the_end_record_window() -> None:
    f = Huge(10 * GiB)
    with pytest.raises(ApkFormatError, match="no end-of-central-directory"):
        read_signing(f, limits=ApkLimits(max_apk_size=16 * GiB))  # type: ignore[arg-type]
    assert f.bytes_read == 22 + 0xFFFF


def test_a_file_shorter_than_it_claims_is_an_error() -> None:
    data = good()
    with pytest.raises(ApkFormatError, match=r"outside the file|ended after"):
        read_signing(io.BytesIO(data[: len(data) // 2]), size=len(data))


# -- ZIP tricks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"PK", b"\x00" * 21, b"PK\x05\x06" + b"\x00" * 17])
def test_too_short_or_not_a_zip(data: bytes) -> None:
    with pytest.raises(ApkFormatError):
        parse(data)


def test_two_end_records_are_ambiguous() -> None:
    """A second end record hidden in the comment, consistent with the end of the file: refused, not guessed."""
    eocd = split_zip(good())[2]
    fake = b"PK\x05\x06" + bytes(eocd[4:20]) + struct.pack("<H", 0)
    data = good()
    real_comment = fake  # the real record's comment is the fake record
    data = data[: -len(eocd)] + bytes(eocd[:20]) + struct.pack("<H", len(real_comment)) + real_comment
    with pytest.raises(ApkFormatError, match="ambiguous"):
        parse(data)


def test_a_comment_length_that_does_not_reach_the_end_is_no_end_record() -> None:
    data = bytearray(good())
    struct.pack_into("<H", data, len(data) - 2, 5)  # says 5 comment bytes; there are none
    with pytest.raises(ApkFormatError, match="no end-of-central-directory"):
        parse(bytes(data))


def test_a_real_comment_is_fine() -> None:
    """An honest archive comment (APKs may have one) moves the end record; it is still found."""
    data = sign_apk(unsigned_apk(comment=b"built by the fleet"), v2=[SchemeSigner(OLD)])
    assert parse(data).digests == (OLD.sha256,)


@pytest.mark.parametrize("offset", [0, 1, 0x7FFFFFFF, 0xFFFFFFFE], ids=["zero", "one", "2GiB", "4GiB"])
def test_central_directory_offset_pointing_anywhere(offset: int) -> None:
    data = bytearray(good())
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<I", data, eocd + 16, offset)
    with pytest.raises(ApkFormatError, match="does not end where"):
        parse(bytes(data))


def test_central_directory_size_over_the_limit_is_not_read() -> None:
    data = good()
    limits = ApkLimits(max_central_directory=64)
    with pytest.raises(ApkFormatError, match="central directory of"):
        parse(data, limits=limits)


@pytest.mark.parametrize("field", [(8, 0xFFFF), (10, 0xFFFF), (12, 0xFFFFFFFF), (16, 0xFFFFFFFF)])
def test_zip64_markers_are_refused(field: tuple[int, int]) -> None:
    data = bytearray(good())
    eocd = data.rindex(b"PK\x05\x06")
    at, value = field
    struct.pack_into("<H" if value == 0xFFFF else "<I", data, eocd + at, value)
    with pytest.raises(ApkFormatError, match="ZIP64"):
        parse(bytes(data))


def test_zip64_locator_is_refused() -> None:
    contents, cd, eocd = split_zip(unsigned_apk())
    locator = struct.pack("<IIQI", 0x07064B50, 0, 0, 1)
    struct.pack_into("<I", eocd, 16, len(contents))
    # the locator sits between the central directory and the end record; the directory is then 20 bytes short
    struct.pack_into("<I", eocd, 12, len(cd) + 20)
    data = contents + cd + locator + bytes(eocd)
    with pytest.raises(ApkFormatError, match="ZIP64"):
        parse(data)


def test_entry_count_disagreeing_with_the_directory() -> None:
    data = bytearray(good())
    eocd = data.rindex(b"PK\x05\x06")
    count = struct.unpack_from("<H", data, eocd + 10)[0]
    struct.pack_into("<HH", data, eocd + 8, count + 1, count + 1)
    with pytest.raises(ApkFormatError, match=r"overruns|bad signature"):
        parse(bytes(data))
    struct.pack_into("<HH", data, eocd + 8, count - 1, count - 1)
    with pytest.raises(ApkFormatError, match="after the last central directory entry"):
        parse(bytes(data))


def test_duplicate_entry_names_are_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("classes.dex", b"one")
        with pytest.warns(UserWarning, match="Duplicate"):
            z.writestr("classes.dex", b"two")
    with pytest.raises(ApkFormatError, match="twice"):
        parse(sign_apk(buf.getvalue(), v2=[SchemeSigner(OLD)]))


def test_local_header_naming_another_entry() -> None:
    """The v1 block's local header names another file than the directory does: refused."""
    data = bytearray(v1_sign(unsigned_apk(), OLD))
    at = data.index(b"META-INF/CERT.EC")  # the first occurrence is the local header's name
    data[at : at + len(b"META-INF/CERT.EC")] = b"META-INF/CERT.XX"
    with pytest.raises(ApkFormatError, match="local header names"):
        parse(bytes(data))


def test_entry_inflating_past_its_declared_size() -> None:
    """A deflated v1 block whose stream inflates to more than the directory says: refused, inflation bounded."""
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = bomb.compress(b"\x00" * (4 << 20)) + bomb.flush()
    info = zipfile.ZipInfo("META-INF/CERT.EC", (2024, 1, 1, 0, 0, 0))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("META-INF/CERT.SF", (2024, 1, 1, 0, 0, 0)), b"Signature-Version: 1.0\r\n\r\n")
        z.writestr(info, b"\x00" * 100, compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buf.getvalue())
    # swap in the bomb's stream for the honest one, keeping the directory's sizes (100) and CRC
    lfh = data.index(b"PK\x03\x04", 1)
    start = lfh + 30 + len("META-INF/CERT.EC")
    csize = struct.unpack_from("<I", data, lfh + 18)[0]
    patched = bytes(data[:start]) + stream[:csize] + bytes(data[start + csize :])
    with pytest.raises(ApkFormatError, match=r"deflate|bytes, the directory says|CRC"):
        parse(patched)


def test_entry_over_the_size_limit_is_not_inflated() -> None:
    big = v1_sign(unsigned_apk(), OLD)
    with pytest.raises(ApkFormatError, match="limit"):
        parse(big, limits=ApkLimits(max_signature_file=64))


def test_encrypted_entry_is_refused() -> None:
    data = bytearray(v1_sign(unsigned_apk(), OLD))
    name_at = data.rindex(b"META-INF/CERT.EC")  # the directory's copy of the name
    entry = data.rindex(b"PK\x01\x02", 0, name_at)
    struct.pack_into("<H", data, entry + 8, struct.unpack_from("<H", data, entry + 8)[0] | 1)
    with pytest.raises(ApkFormatError, match="encrypted"):
        parse(bytes(data))


# -- the signing block --------------------------------------------------------------------------------


def _block_footer_at(data: bytes) -> int:
    return data.rindex(b"APK Sig Block 42") - 8


@pytest.mark.parametrize("size", [2**64 - 1, 2**63, 2**40, 10 * GiB, 23])
def test_signing_block_claiming_a_huge_or_tiny_size(size: int) -> None:
    data = bytearray(good())
    struct.pack_into("<Q", data, _block_footer_at(bytes(data)), size)
    f = Huge(len(data), bytes(data))
    with pytest.raises(ApkFormatError, match=r"does not fit|limit"):
        read_signing(f)  # type: ignore[arg-type]
    assert f.bytes_read < 70_000 + len(data)


def test_signing_block_over_the_limit_is_not_read() -> None:
    with pytest.raises(ApkFormatError, match="APK Signing Block of"):
        parse(good(), limits=ApkLimits(max_signing_block=256))


def test_signing_block_header_and_footer_disagree() -> None:
    data = bytearray(good())
    footer = _block_footer_at(bytes(data))
    size = struct.unpack_from("<Q", data, footer)[0]
    struct.pack_into("<Q", data, footer - size + 24 - 8, size + 1)  # the header
    with pytest.raises(ApkFormatError, match="header and footer"):
        parse(bytes(data))


@pytest.mark.parametrize("length", [0, 3, 2**63, 2**64 - 1])
def test_pair_length_out_of_range(length: int) -> None:
    block = signing_block([struct.pack("<QI", length, V2)])
    with pytest.raises(ApkFormatError, match="pair"):
        parse(insert_block(unsigned_apk(), block))


def test_two_v2_blocks_are_ambiguous() -> None:
    """Two v2 pairs (Android reads the first, another parser might read the second): refused."""
    honest = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)])
    footer = _block_footer_at(honest)
    size = struct.unpack_from("<Q", honest, footer)[0]
    pairs = honest[footer - size + 24 : footer]
    with pytest.raises(ApkFormatError, match="two v2 blocks"):
        parse(insert_block(unsigned_apk(), signing_block([pairs, pairs])))


def test_too_many_pairs() -> None:
    block = signing_block([pair(0x1000 + i, b"") for i in range(300)])
    with pytest.raises(ApkFormatError, match="more than 256 ID-value pairs"):
        parse(insert_block(unsigned_apk(), block))


def test_unknown_pairs_are_ignored() -> None:
    """Padding and vendor pairs (verity padding 0x42726577, Play's frosting) do not change the answer."""
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)], extra_pairs=[pair(0x42726577, b"\x00" * 100)])
    assert parse(data).digests == (OLD.sha256,)


def test_signing_block_missing_its_magic_means_no_block() -> None:
    """Without the magic there is no signing block: an APK whose only signature was there is unsigned."""
    data = bytearray(sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)]))
    at = data.rindex(b"APK Sig Block 42")
    data[at : at + 16] = b"APK Sig Block 43"
    with pytest.raises(ApkNotSignedError, match="not signed"):
        parse(bytes(data))


def test_unsigned_is_its_own_error_and_only_when_nothing_else_is_wrong() -> None:
    """An unsigned ZIP is ApkNotSignedError; a stripped or malformed one is a plain ApkFormatError."""
    with pytest.raises(ApkNotSignedError):
        parse(unsigned_apk())
    with pytest.raises(ApkFormatError) as stripped:
        parse(v1_sign(unsigned_apk(), OLD, also_signed="2"))
    assert not isinstance(stripped.value, ApkNotSignedError)
    with pytest.raises(ApkFormatError) as unknown_only:
        parse(insert_block(unsigned_apk(), signing_block([struct.pack("<QI", 3, V2)])))
    assert not isinstance(unknown_only.value, ApkNotSignedError)


# -- forged and inconsistent signatures ----------------------------------------------------------------


def test_signer_certificate_signed_by_another_key() -> None:
    """The approved certificate, the attacker's signature and public key: the key is not the certificate's."""
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD, sign_with=OTHER, public_key=OTHER)])
    with pytest.raises(ApkFormatError, match="public key is not the first certificate's"):
        parse(data)


def test_signer_signature_by_another_key() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=28, sign_with=OTHER)])
    with pytest.raises(ApkFormatError, match="does not verify"):
        parse(data)


def test_signed_data_tampered_after_signing() -> None:
    """One flipped bit in a signed digest: the signature no longer verifies."""
    data = bytearray(sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)]))
    at = data.index(OLD.der) - 40  # inside the signed data's digest, before the certificates
    data[at] ^= 1
    with pytest.raises(ApkFormatError, match="does not verify"):
        parse(bytes(data))


def test_unknown_signature_algorithm_only() -> None:
    data = bytearray(sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)]))
    # both the digest record and the signature record name 0x0201: make both unknown
    alg = struct.pack("<I", 0x0201)
    first = data.index(alg)
    data[first : first + 4] = struct.pack("<I", 0x0999)
    second = data.index(alg)
    data[second : second + 4] = struct.pack("<I", 0x0999)
    with pytest.raises(ApkFormatError, match="no signature with a known algorithm"):
        parse(bytes(data))


def test_v3_sdk_range_outside_differs_from_inside() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=28, outer_sdk=(24, 0x7FFFFFFF))])
    with pytest.raises(ApkFormatError, match="SDK range"):
        parse(data)


def test_v3_overlapping_signers() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=28, max_sdk=30), SchemeSigner(OLD, min_sdk=30)])
    with pytest.raises(ApkFormatError, match="overlap"):
        parse(data)


def test_v1_by_another_key_than_v2_v3() -> None:
    """A v1 signature by the attacker's key pasted beside genuine v2/v3: the schemes disagree; refused."""
    data = sign_apk(v1_sign(unsigned_apk(), OTHER), v2=[SchemeSigner(OLD)], v3=[SchemeSigner(OLD, min_sdk=28)])
    with pytest.raises(ApkFormatError, match="schemes disagree"):
        parse(data)


def test_v2_and_v3_by_different_keys_without_rotation() -> None:
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OTHER)], v3=[SchemeSigner(NEW, min_sdk=28)])
    with pytest.raises(ApkFormatError, match="schemes disagree"):
        parse(data)


def test_v1_with_two_certificates_is_ambiguous() -> None:
    data = v1_sign(unsigned_apk(), OLD, also_signed=None, extra_certificates=[OTHER])
    with pytest.raises(ApkFormatError, match="2 certificates"):
        parse(data)


def test_v1_block_that_is_not_pkcs7() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/CERT.SF", b"Signature-Version: 1.0\r\n\r\n")
        z.writestr("META-INF/CERT.RSA", b"\x30\x03\x02\x01\x00")
    with pytest.raises(ApkFormatError, match="PKCS #7"):
        parse(buf.getvalue())


def test_v1_signature_file_with_two_blocks() -> None:
    data = v1_sign(unsigned_apk(), OLD, also_signed=None)
    z = zipfile.ZipFile(io.BytesIO(data))
    files = {i.filename: z.read(i) for i in z.infolist()}
    files["META-INF/CERT.RSA"] = files["META-INF/CERT.EC"]
    with pytest.raises(ApkFormatError, match="2 signature blocks"):
        parse(unsigned_apk(files))


# -- stripping protection -------------------------------------------------------------------------------


def test_v1_says_v2_but_v2_was_stripped() -> None:
    """Removing the v2/v3 block to fall back on a v1 signature is refused, as Android refuses it."""
    data = v1_sign(unsigned_apk(), OLD, also_signed="2")
    with pytest.raises(ApkFormatError, match="also signed with v2"):
        parse(data)
    assert parse(v1_sign(unsigned_apk(), OLD, also_signed=None)).scheme == "v1"


def test_v2_says_v3_but_v3_was_stripped() -> None:
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD, attributes=((STRIPPING_ATTR, struct.pack("<I", 3)),))])
    with pytest.raises(ApkFormatError, match="also signed with v3"):
        parse(data)


def test_v3_announces_v31_but_it_was_stripped() -> None:
    announce = ((ROTATION_MIN_SDK_ATTR, struct.pack("<I", 33)),)
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=28, attributes=announce)])
    with pytest.raises(ApkFormatError, match=r"v3.1"):
        parse(data)
    rotated = sign_apk(
        unsigned_apk(),
        v3=[SchemeSigner(OLD, min_sdk=28, max_sdk=32, attributes=announce)],
        v31=[SchemeSigner(NEW, min_sdk=33, lineage=(OLD, NEW))],
    )
    assert parse(rotated).digests == (NEW.sha256,)


# -- rotation -----------------------------------------------------------------------------------------


def test_v31_rotation_is_the_current_signer_on_android_13() -> None:
    """v3.1 rotation: Android 13+ uses the new key, Android 9-12 the original one (v3)."""
    data = sign_apk(
        unsigned_apk(),
        v2=[SchemeSigner(OLD)],
        v3=[SchemeSigner(OLD, min_sdk=28, max_sdk=32, attributes=((ROTATION_MIN_SDK_ATTR, struct.pack("<I", 33)),))],
        v31=[SchemeSigner(NEW, min_sdk=33, lineage=(OLD, NEW))],
    )
    newest = parse(data)
    assert (newest.scheme, newest.digests, newest.lineage) == ("v3.1", (NEW.sha256,), (OLD.sha256, NEW.sha256))
    assert newest.rotated
    assert parse(data, sdk=34).digests == (NEW.sha256,)
    assert (parse(data, sdk=30).scheme, parse(data, sdk=30).digests) == ("v3", (OLD.sha256,))
    assert (parse(data, sdk=25).scheme, parse(data, sdk=25).digests) == ("v2", (OLD.sha256,))


def test_v3_no_signer_for_the_platform() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=30)])
    with pytest.raises(ApkFormatError, match="no v3 signer covers API level 29"):
        parse(data, sdk=29)


def test_lineage_node_not_signed_by_its_predecessor() -> None:
    """A proof of rotation the old key never signed (the attacker signed it): refused."""
    forged = lineage_value([OLD, NEW], sign_with=[OLD, OTHER])
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(NEW, min_sdk=28, attributes=((LINEAGE_ATTR, forged),))])
    with pytest.raises(ApkFormatError, match="not signed by its predecessor"):
        parse(data)


def test_lineage_not_ending_with_the_signer() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(NEW, min_sdk=28, lineage=(OLD, OTHER))])
    with pytest.raises(ApkFormatError, match="does not end with the signer"):
        parse(data)


def test_lineage_repeating_a_certificate() -> None:
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(OLD, min_sdk=28, lineage=(OLD, NEW, OLD))])
    with pytest.raises(ApkFormatError, match="twice"):
        parse(data)


def test_lineage_over_the_limit() -> None:
    chain = tuple(make_key(f"chain-{i}") for i in range(5))
    data = sign_apk(unsigned_apk(), v3=[SchemeSigner(chain[-1], min_sdk=28, lineage=chain)])
    assert len(parse(data).lineage) == 5
    with pytest.raises(ApkFormatError, match="more than 4"):
        parse(data, limits=ApkLimits(max_records=4))


def test_rotation_admits_the_old_key_in_lower_schemes_only_through_the_lineage() -> None:
    """v1/v2 by the old key beside a rotated v3 is honest; the same without the proof of rotation is not."""
    with_proof = sign_apk(
        v1_sign(unsigned_apk(), OLD), v2=[SchemeSigner(OLD)], v3=[SchemeSigner(NEW, min_sdk=28, lineage=(OLD, NEW))]
    )
    assert parse(with_proof).digests == (NEW.sha256,)
    without = sign_apk(v1_sign(unsigned_apk(), OLD), v2=[SchemeSigner(OLD)], v3=[SchemeSigner(NEW, min_sdk=28)])
    with pytest.raises(ApkFormatError, match="schemes disagree"):
        parse(without)


# -- limits on counts and sizes --------------------------------------------------------------------------


def test_too_many_signers() -> None:
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)] * 9)
    with pytest.raises(ApkFormatError, match="more than 8 signers"):
        parse(data)


def test_certificate_over_the_size_limit() -> None:
    with pytest.raises(ApkFormatError, match="certificate of"):
        parse(sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD)]), limits=ApkLimits(max_certificate_size=100))


def test_garbage_certificate() -> None:
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(OLD, certificates=(b"\x30\x03\x02\x01\x00",))])
    with pytest.raises(ApkFormatError, match=r"not a valid X.509 certificate"):
        parse(data)


# -- sources: paths, FIFOs, symlinks, tails -----------------------------------------------------------------


def test_path_fifo_and_symlink(tmp_path: Path) -> None:
    """A FIFO never blocks the dock; a symlink is not followed; a missing file is an ApkFormatError."""
    apk = tmp_path / "app.apk"
    apk.write_bytes(good())
    assert read_signing(apk).digests == (OLD.sha256,)
    fifo = tmp_path / "fifo.apk"
    os.mkfifo(fifo)
    with pytest.raises(ApkFormatError, match="not a regular file"):
        read_signing(fifo)
    link = tmp_path / "link.apk"
    link.symlink_to(apk)
    with pytest.raises(ApkFormatError, match="cannot open"):
        read_signing(link)
    with pytest.raises(ApkFormatError, match="cannot open"):
        read_signing(tmp_path / "missing.apk")


def test_tail_longer_than_the_file_is_a_callers_bug() -> None:
    with pytest.raises(ValueError, match="cannot end a file"):
        TailSource(b"abc", size=2)


def test_tail_source_claims_of_a_huge_file() -> None:
    """A tail whose file "is" 10 GB: only the tail is consulted, the size check refuses it first."""
    with pytest.raises(ApkFormatError, match="larger than"):
        read_signing_from_tail(good(), size=10 * GiB)


# -- anything else: one exception type, whatever the bytes ---------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_end_in_a_result_or_apk_format_error(data: st.DataObject) -> None:
    """Random byte changes, truncations and insertions into a signed APK: a result or ApkFormatError, nothing else."""
    apk = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "truncate", "insert"]))
        at = data.draw(st.integers(0, max(len(apk) - 1, 0)))
        if op == "flip" and apk:
            apk[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and apk:
            value = data.draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]))
            width = data.draw(st.sampled_from([1, 4, 8]))
            apk[at : at + width] = bytes([value]) * width
        elif op == "truncate":
            del apk[at:]
        else:
            apk[at:at] = data.draw(st.binary(max_size=16))
    try:
        parse(bytes(apk))
        read_signing_from_tail(bytes(apk[-4096:]), size=len(apk))
    except ApkFormatError:
        pass


GOOD = sign_apk(
    v1_sign(unsigned_apk(), OLD),
    v2=[SchemeSigner(OLD)],
    v3=[SchemeSigner(NEW, min_sdk=28, lineage=(OLD, NEW))],
)
