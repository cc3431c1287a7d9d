"""APK signing certificates parsed by attest.apk agree with Debian's ``apksigner verify --print-certs``.

Real APKs: a minimal ZIP signed by ``apksigner`` itself with two different
keys (RSA-2048 and EC P-256), each scheme alone and together, and with a key
rotation (``apksigner rotate``, v3 proof of rotation). The digest attest
reports must be the "Signer #1 certificate SHA-256 digest" apksigner prints;
the rotation history must be what ``apksigner lineage --print-certs`` prints.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from apk_kit import (
    apksigner_lineage,
    apksigner_rotate,
    apksigner_sign,
    apksigner_verify,
    needs_apksigner,
    write_signed_pair,
)
from fuzz.apk_build import Key, SchemeSigner, make_key, sign_apk, unsigned_apk, v1_sign

from attest.apk import ApkFormatError, ApkTailTooShortError, read_signing, read_signing_from_tail

pytestmark = needs_apksigner

#: (schemes, --min-sdk-version): v1 alone needs API 18+ for ECDSA JAR signatures.
SCHEMES = {
    "v1": (("v1",), 18),
    "v2": (("v2",), 24),
    "v3": (("v3",), 28),
    "v1-v2-v3": (("v1", "v2", "v3"), 18),
}


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {"rsa": make_key("fleet-rsa", "rsa"), "ec": make_key("fleet-ec")}


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    path = tmp_path / "unsigned.apk"
    path.write_bytes(unsigned_apk())
    return path


@pytest.mark.parametrize("key_name", ["rsa", "ec"])
@pytest.mark.parametrize("config", sorted(SCHEMES))
def test_digest_is_apksigners_signer_digest(
    tmp_path: Path, unsigned: Path, keys: dict[str, Key], key_name: str, config: str
) -> None:
    """Each scheme alone and all together, each key: attest's digest is apksigner's, from the scheme it verified."""
    schemes, min_sdk = SCHEMES[config]
    apk = apksigner_sign(unsigned, tmp_path / "signed.apk", [keys[key_name]], schemes=schemes, min_sdk=min_sdk)
    report = apksigner_verify(apk, min_sdk=min_sdk)
    assert report.verifies, report.output
    assert report.schemes == frozenset(schemes)
    ours = read_signing(apk)
    assert ours.digests == report.signers
    assert ours.scheme == max(schemes, key=("v1", "v2", "v3").index)
    assert [s.scheme for s in ours.schemes] == list(schemes)
    assert all(s.digests == report.signers for s in ours.schemes)


def test_same_apk_two_keys_two_digests(tmp_path: Path, unsigned: Path, keys: dict[str, Key]) -> None:
    """The same contents re-signed by another key: the digest changes, and each matches apksigner's."""
    first = apksigner_sign(unsigned, tmp_path / "a.apk", [keys["rsa"]])
    second = apksigner_sign(unsigned, tmp_path / "b.apk", [keys["ec"]])
    ours = (read_signing(first).digests, read_signing(second).digests)
    assert ours[0] != ours[1]
    assert ours == (apksigner_verify(first).signers, apksigner_verify(second).signers)


def test_rotation_current_signer_and_lineage(tmp_path: Path, unsigned: Path, keys: dict[str, Key]) -> None:
    """apksigner rotate + sign --lineage: the current (v3) signer is the new key, the lineage is apksigner's."""
    old, new = keys["rsa"], keys["ec"]
    lineage = apksigner_rotate(old, new, tmp_path / "lineage.bin")
    apk = apksigner_sign(unsigned, tmp_path / "rotated.apk", [old, new], lineage=lineage)
    ours = read_signing(apk)
    assert ours.digests == apksigner_verify(apk, min_sdk=28).signers == (new.sha256,)
    assert ours.rotated
    assert ours.lineage == apksigner_lineage(apk) == (old.sha256, new.sha256)
    # Android 7-8 verify v2 only: there the app is still signed by the old key, as apksigner says for API 24-27.
    on_oreo = read_signing(apk, sdk=26)
    assert on_oreo.scheme == "v2"
    assert on_oreo.digests == apksigner_verify(apk, min_sdk=24, max_sdk=27).signers == (old.sha256,)


def test_tail_is_enough_and_short_tail_says_how_much(tmp_path: Path, unsigned: Path, keys: dict[str, Key]) -> None:
    """The end of the file gives the same answer as the file; a too-short tail asks for exactly what it needs."""
    apk = apksigner_sign(unsigned, tmp_path / "signed.apk", [keys["ec"]])
    data = apk.read_bytes()
    whole = read_signing(apk)
    assert read_signing_from_tail(data, size=len(data)) == whole
    with pytest.raises(ApkTailTooShortError) as short:
        read_signing_from_tail(data[-200:], size=len(data))
    needed = short.value.needed
    assert 200 < needed <= len(data)
    # Each retry with what the last error asked for makes progress and ends in the full answer.
    asked = [needed]
    for _ in range(8):
        try:
            result = read_signing_from_tail(data[-asked[-1] :], size=len(data))
            break
        except ApkTailTooShortError as e:
            asked.append(e.needed)
    else:
        pytest.fail(f"the tail never sufficed: asked for {asked}")
    assert asked == sorted(set(asked))  # each retry asked for more
    assert result == whole
    assert read_signing(io.BytesIO(data)) == whole


def test_python_builder_apks_verify_with_apksigner(tmp_path: Path) -> None:
    """The hostile tests' pure-Python signer makes APKs apksigner accepts (v1+v2+v3 with rotation), same digests."""
    old, new = make_key("builder-old"), make_key("builder-new")
    data = sign_apk(
        v1_sign(unsigned_apk(), old), v2=[SchemeSigner(old)], v3=[SchemeSigner(new, min_sdk=28, lineage=(old, new))]
    )
    apk = tmp_path / "built.apk"
    apk.write_bytes(data)
    report = apksigner_verify(apk, min_sdk=21)
    assert report.verifies, report.output
    assert report.schemes == {"v1", "v2", "v3"}
    assert read_signing(apk).digests == report.signers == (new.sha256,)
    assert read_signing(apk).lineage == apksigner_lineage(apk) == (old.sha256, new.sha256)


def test_apksigner_and_attest_refuse_a_forged_signer(tmp_path: Path) -> None:
    """A v2 signer naming the approved certificate but signed by another key: both refuse it."""
    approved, attacker = make_key("approved"), make_key("attacker")
    data = sign_apk(unsigned_apk(), v2=[SchemeSigner(approved, sign_with=attacker)])
    apk = tmp_path / "forged.apk"
    apk.write_bytes(data)
    assert not apksigner_verify(apk).verifies
    with pytest.raises(ApkFormatError, match="does not verify"):
        read_signing(apk)


def test_simulator_pair_same_entries_two_certificates(tmp_path: Path) -> None:
    """The kit's APK pair for ``attest sim android --swap-cert``: same entries, another certificate, both valid."""
    approved, other = write_signed_pair(tmp_path, "com.example.flight")
    base, swapped = tmp_path / "com.example.flight.apk", tmp_path / "com.example.flight.swapped.apk"
    assert approved != other
    for path, digest in ((base, approved), (swapped, other)):
        report = apksigner_verify(path, min_sdk=21)
        assert report.verifies, report.output
        assert read_signing(path).digests == report.signers == (digest,)

    def entries(p: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(p) as z:
            return {n: z.read(n) for n in z.namelist() if not n.startswith("META-INF/")}

    assert entries(base) == entries(swapped)
