"""A private Sigstore instance for tests and the demo: mint trusted roots and bundles offline.

TEST ONLY. A :class:`TestRoot` is a Sigstore instance of its own: a
Fulcio-like CA, a CT log key and a Rekor-like transparency log key, fresh P-256
keys whose private halves anyone holding the instance has. Its bundles are
trusted only by a policy that pins its ``trusted_root.json``; no policy for a
real fleet should ever pin one.

:meth:`TestRoot.trusted_root` writes the ``trusted_root.json`` that pins it;
:meth:`TestRoot.bundle` issues a short-lived leaf certificate for an OIDC
identity (SAN, issuer extensions ``1.3.6.1.4.1.57264.1.1`` and ``…1.8``, one
embedded SCT signed by the CT key), signs a DSSE envelope with the leaf key,
logs a ``dsse`` 0.0.1 entry in a small RFC 6962 tree (inclusion proof,
checkpoint signed as a note by the log key, signed entry timestamp) and returns
the bundle v0.3 JSON. :meth:`TestRoot.save` and :meth:`TestRoot.load` keep an
instance in a directory, so that separate commands (``attest sim sigstore root``,
then ``sign``) use the same one.

Every piece follows ../shared/reference/signing-and-logs.md §5.3; sigstore
4.5.1 accepts the result. Options make one piece wrong at a time for attack
tests (a certificate expired before the entry's time, a retired log key, …);
tests that need a broken proof edit the returned JSON. ``cryptography`` and
``rfc8785`` only: no network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from attest.errors import ConfigError
from attest.fsutil import read_bounded, write_new

__all__ = [
    "ALICE",
    "BOB",
    "BUNDLE_V03",
    "IN_TOTO",
    "ISSUER",
    "SIGNED_AT",
    "TRUSTED_ROOT",
    "TestRoot",
    "edit",
    "leaf_hash",
]

IN_TOTO = "application/vnd.in-toto+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
ISSUER = "https://accounts.google.com"
ALICE = "alice@force.example"
BOB = "bob@force.example"

#: When the test signatures are made (in the past, so sigstore uses every key and CA).
SIGNED_AT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)

_OIDC_ISSUER = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

#: The files of a saved instance (:meth:`TestRoot.save`): the public root, the CA certificate, the private keys.
TRUSTED_ROOT = "trusted_root.json"
_CA_CERT = "ca.pem"
_KEYS = {"ca_key": "ca.TEST-ONLY.key", "ct_key": "ctlog.TEST-ONLY.key", "log_key": "tlog.TEST-ONLY.key"}
_NOTE = "TEST-ONLY.txt"
_MAX_FILE = 64 * 1024
_NOTE_TEXT = """\
A private Sigstore instance made by 'attest sim sigstore root', for tests and the demo. TEST ONLY.

Its private keys ({keys}) are in this directory: whoever has them can mint a bundle for any identity.
Bundles from it are trusted only by a trust policy that pins this {root};
never pin it in the policy of a real fleet.
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _der_utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([0x0C]) + _der_len(len(raw)) + raw


# --- RFC 6962 Merkle tree ----------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of ``data``."""
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two < n
    return _node(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


# --- the test instance -------------------------------------------------------------------------------------------


@dataclass
class TestRoot:
    """A private Sigstore instance: CA, CT log and transparency log keys (fresh P-256 keys each)."""

    __test__ = False  # not a pytest test class

    name: str = "test"
    ca_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ct_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    log_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ca_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "force.example"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name}-fulcio"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key())
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2035, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def log_id(self) -> bytes:
        """The transparency log's id: SHA-256 of its SPKI DER."""
        return hashlib.sha256(_spki(self.log_key)).digest()

    @property
    def ct_id(self) -> bytes:
        """The CT log's id: SHA-256 of its SPKI DER."""
        return hashlib.sha256(_spki(self.ct_key)).digest()

    def save(self, directory: Path) -> Path:
        """Keep this instance in ``directory``: its trusted root, CA certificate and private keys (mode 0600).

        ``directory`` is created (mode 0700) if missing; no file in it is ever replaced.

        Returns:
            The ``trusted_root.json`` written.

        Raises:
            ConfigError: a file of the instance is already there, or it cannot be written.
        """
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{directory}: cannot create: {e.strerror}") from e
        names = [TRUSTED_ROOT, _CA_CERT, *_KEYS.values(), _NOTE]
        taken = [n for n in names if os.path.lexists(directory / n)]
        if taken:
            raise ConfigError(f"{directory}: already holds {', '.join(taken)}; choose an empty directory")
        for attr, name in _KEYS.items():
            key: ec.EllipticCurvePrivateKey = getattr(self, attr)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_new(directory / name, pem, 0o600)
        write_new(directory / _CA_CERT, self.ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        note = _NOTE_TEXT.format(keys=", ".join(_KEYS.values()), root=TRUSTED_ROOT)
        write_new(directory / _NOTE, note.encode(), 0o644)
        root = directory / TRUSTED_ROOT
        write_new(root, self.trusted_root_json(), 0o644)
        return root

    @classmethod
    def load(cls, directory: Path) -> TestRoot:
        """The instance :meth:`save` kept in ``directory``.

        Raises:
            ConfigError: a file is missing, unreadable or too large.
            ValueError: a file is not what :meth:`save` writes (not a P-256 key, a CA certificate
                of another key).
        """
        keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        for attr, name in _KEYS.items():
            data = read_bounded(directory / name, _MAX_FILE, what="test Sigstore key")
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
                raise ValueError(f"{directory / name}: not a P-256 private key")  # noqa: TRY004 (bad data)
            keys[attr] = key
        cert = x509.load_pem_x509_certificate(read_bounded(directory / _CA_CERT, _MAX_FILE, what="test CA"))
        if _spki(keys["ca_key"]) != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ValueError(f"{directory / _CA_CERT}: not the certificate of {directory / _KEYS['ca_key']}")
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common = str(names[0].value) if names else ""
        if not common.endswith("-fulcio"):
            raise ValueError(f"{directory / _CA_CERT}: not a test instance's CA (common name {common!r})")
        root = cls(name=common.removesuffix("-fulcio"), **keys)
        root.ca_cert = cert  # the one the saved trusted root lists, not the fresh one __post_init__ made
        return root

    def trusted_root(self, path: Path, **options: Any) -> Path:
        """Write this instance's ``trusted_root.json`` to ``path`` (``options``: as :meth:`trusted_root_json`)."""
        path.write_bytes(self.trusted_root_json(**options))
        return path

    def trusted_root_json(
        self,
        *,
        log_valid: tuple[datetime, datetime | None] = (datetime(2025, 1, 1, tzinfo=UTC), None),
        ct_valid: tuple[datetime, datetime | None] = (datetime(2025, 1, 1, tzinfo=UTC), None),
        ca_valid: tuple[datetime, datetime | None] = (datetime(2025, 1, 1, tzinfo=UTC), None),
        log_id: bytes | None = None,
        extra_logs: tuple[tuple[ec.EllipticCurvePrivateKey, tuple[datetime, datetime | None]], ...] = (),
    ) -> bytes:
        """The ``trusted_root.json`` of this instance.

        Args:
            log_valid: the ``validFor`` window of the log key (``ct_valid``, ``ca_valid``: CT key, CA).
            ct_valid: see ``log_valid``.
            ca_valid: see ``log_valid``.
            log_id: the log's ``logId.keyId`` if not its key's SPKI hash (as for Rekor v2 logs).
            extra_logs: more transparency logs (key, window), with SPKI-hash ids.
        """

        def valid_for(window: tuple[datetime, datetime | None]) -> dict[str, str]:
            start, end = window
            return {"start": _time(start)} | ({"end": _time(end)} if end else {})

        def log(
            url: str,
            key: ec.EllipticCurvePrivateKey,
            window: tuple[datetime, datetime | None],
            kid: bytes | None = None,
        ) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": valid_for(window),
                },
                "logId": {"keyId": _b64(kid or hashlib.sha256(_spki(key)).digest())},
            }

        doc = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                log(f"https://rekor.{self.name}.example", self.log_key, log_valid, log_id),
                *(log(f"https://rekor{i}.{self.name}.example", k, w) for i, (k, w) in enumerate(extra_logs)),
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "force.example", "commonName": f"{self.name}-fulcio"},
                    "uri": f"https://fulcio.{self.name}.example",
                    "certChain": {
                        "certificates": [{"rawBytes": _b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}]
                    },
                    "validFor": valid_for(ca_valid),
                }
            ],
            "ctlogs": [log(f"https://ctfe.{self.name}.example", self.ct_key, ct_valid)],
            "timestampAuthorities": [],
        }
        return json.dumps(doc, indent=2).encode()

    def certificate(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        identity: str,
        issuer: str,
        not_before: datetime,
        lifetime: timedelta,
        issuer_v1: bool = True,
        issuer_v2: bool = True,
        issuer_v2_value: str | None = None,
        ct_key: ec.EllipticCurvePrivateKey | None = None,
        sct: bool = True,
        code_signing: bool = True,
    ) -> x509.Certificate:
        """A Fulcio-like leaf for ``identity`` (an email, or a URI if it has ``://``), with one embedded SCT."""
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity) if "://" in identity else x509.RFC822Name(identity)
        )
        eku = [ExtendedKeyUsageOID.CODE_SIGNING if code_signing else ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        )
        if issuer_v1:
            builder = builder.add_extension(x509.UnrecognizedExtension(_OIDC_ISSUER, issuer.encode()), critical=False)
        if issuer_v2:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(_OIDC_ISSUER_V2, _der_utf8(issuer_v2_value or issuer)), critical=False
            )
        if not sct:
            return builder.sign(self.ca_key, hashes.SHA256())
        # The SCT signs the precertificate's TBS: the certificate as built so far. Adding the SCT
        # list as the last extension keeps that TBS equal to the final certificate's
        # tbs_precertificate_bytes (the TBS with the SCT list removed).
        tbs = builder.sign(self.ca_key, hashes.SHA256()).tbs_certificate_bytes
        ct = ct_key or self.ct_key
        ts_ms = int((not_before + timedelta(seconds=1)).timestamp() * 1000)
        issuer_key_hash = hashlib.sha256(_spki(self.ca_key)).digest()
        signed = (
            struct.pack(">BBQH", 0, 0, ts_ms, 1)
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack(">H", 0)
        )
        sig = _sign(ct, signed)
        sct_bytes = (
            bytes([0])
            + hashlib.sha256(_spki(ct)).digest()
            + struct.pack(">QH", ts_ms, 0)
            + bytes([4, 3])
            + struct.pack(">H", len(sig))
            + sig
        )
        sct_list = struct.pack(">H", len(sct_bytes) + 2) + struct.pack(">H", len(sct_bytes)) + sct_bytes
        octet = bytes([0x04]) + _der_len(len(sct_list)) + sct_list
        builder = builder.add_extension(x509.UnrecognizedExtension(_SCT_LIST, octet), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def bundle(
        self,
        payload: bytes,
        *,
        identity: str = ALICE,
        issuer: str = ISSUER,
        payload_type: str = IN_TOTO,
        not_before: datetime = SIGNED_AT,
        lifetime: timedelta = timedelta(minutes=10),
        integrated_at: datetime | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        log_key: ec.EllipticCurvePrivateKey | None = None,
        log_id: bytes | None = None,
        index: int = 5,
        tree_size: int = 7,
        **cert_options: Any,
    ) -> bytes:
        """A bundle v0.3 signing ``payload`` as ``identity`` at ``issuer``, logged in this instance's log.

        Args:
            payload: the DSSE payload, signed as it is.
            identity: the certificate's SAN (an email, or a URI if it has ``://``).
            issuer: the OIDC issuer the certificate names.
            payload_type: the DSSE payload type.
            not_before: when the certificate starts to be valid.
            lifetime: how long it stays valid (Fulcio: 10 minutes).
            integrated_at: the log entry's time (default: one minute after ``not_before``).
            signing_key: signs the envelope instead of the certificate's key (a forged signature).
            log_key: signs the checkpoint and the SET instead of the log key (another log).
            log_id: the log id the entry names (default: the log key's SPKI hash).
            index: the entry's index in the log.
            tree_size: the log's size at the checkpoint.
            cert_options: passed to :meth:`certificate`.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.certificate(
            key, identity=identity, issuer=issuer, not_before=not_before, lifetime=lifetime, **cert_options
        )
        pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
        sig = _sign(signing_key or key, pae)
        envelope = {"payload": _b64(payload), "payloadType": payload_type, "signatures": [{"sig": _b64(sig)}]}
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        body: dict[str, Any] = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                },
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": _b64(sig), "verifier": _b64(cert_pem)}],
            },
        }
        canonical = rfc8785.dumps(body)
        leaves = [b"other entry %d" % i for i in range(tree_size)]
        leaves[index] = canonical
        root_hash = _mth(leaves)
        signer = log_key or self.log_key
        log_id = log_id or self.log_id
        origin = f"rekor.{self.name}.example - 1234567890"
        note = f"{origin}\n{tree_size}\n{_b64(root_hash)}\n"
        checkpoint = f"{note}\n\u2014 rekor.{self.name}.example {_b64(log_id[:4] + _sign(signer, note.encode()))}\n"
        when = int((integrated_at or not_before + timedelta(minutes=1)).timestamp())
        set_body = rfc8785.dumps(
            {
                "body": _b64(canonical),
                "integratedTime": when,
                "logID": log_id.hex(),
                "logIndex": index,
            }
        )
        entry = {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(when),
            "inclusionPromise": {"signedEntryTimestamp": _b64(_sign(signer, set_body))},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(root_hash),
                "treeSize": str(tree_size),
                "hashes": [_b64(h) for h in _path(index, leaves)],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(canonical),
        }
        bundle = {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry],
            },
            "dsseEnvelope": envelope,
        }
        return json.dumps(bundle, indent=2).encode()


def _der_len(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def edit(bundle: bytes, change: Any) -> bytes:
    """``bundle`` with ``change(obj)`` applied to its parsed JSON (for tampering tests)."""
    obj = json.loads(bundle)
    change(obj)
    return json.dumps(obj).encode()
