"""``attest trust init|sign|show|update``: the signed, versioned trust policy of a fleet (see docs/trust.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest._cli._common import add_state_dir, positive_int, state_dir

if TYPE_CHECKING:
    from attest.trust import PolicyDocument, TrustPolicy

# Imports are inside the commands: `attest --help` builds every command's parser.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trust``."""
    p = sub.add_parser("trust", help="make, sign, inspect and install the fleet's signed trust policy")
    tsub = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)

    i = tsub.add_parser(
        "init",
        help="make a signed policy document from a TOML draft",
        description="Write the trust policy of the TOML DRAFT as a versioned document (a DSSE envelope), signed "
        "with each --key given. It is valid once policy_threshold of its own keys signed it; each manager adds "
        "a signature with 'attest trust sign'. A later version must also be signed by the keys of the version "
        "before.",
    )
    i.add_argument("draft", type=Path, metavar="DRAFT", help="trust policy TOML (keys, sigstore, revoked, thresholds)")
    i.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the document")
    i.add_argument("--version", type=positive_int, default=1, help="policy version (default 1; then 2, 3, ...)")
    i.add_argument("--key", action="append", type=Path, default=[], metavar="KEYFILE", help="sign with this key")
    i.add_argument("--force", action="store_true", help="replace --out if it exists")
    i.set_defaults(func=_init)

    s = tsub.add_parser(
        "sign",
        help="add a signature to a policy document",
        description="Add KEY's signature to a trust policy document (re-signing replaces that key's signature). "
        "Writes in place unless --out is given.",
    )
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument(
        "--key",
        required=True,
        action="append",
        type=Path,
        metavar="KEYFILE",
        help="Ed25519 private key (PEM); repeatable",
    )
    s.add_argument("--out", type=Path, metavar="FILE", help="write here instead of in place")
    s.set_defaults(func=_sign)

    w = tsub.add_parser(
        "show",
        help="print a policy (a document, a TOML file, or the one this dock accepted)",
        description="Print every field of a trust policy and each signature's status. Without FILE, print the "
        "policy this dock accepted (in the state directory).",
    )
    w.add_argument("file", type=Path, nargs="?", metavar="FILE")
    w.add_argument("--json", action="store_true", help="print one JSON object")
    add_state_dir(w)
    w.set_defaults(func=_show)

    u = tsub.add_parser(
        "update",
        help="accept the next policy version on this dock",
        description="Accept FILE as this dock's trust policy: version N+1 only when policy_threshold keys of "
        "version N and policy_threshold of its own keys signed it; the first one when the dock has none. It is "
        "stored in the state directory; the dock never goes back to a lower version. Exit 4 when refused.",
    )
    u.add_argument("file", type=Path, metavar="FILE")
    add_state_dir(u)
    u.set_defaults(func=_update)


def _init(args: argparse.Namespace) -> int:
    from attest.errors import ConfigError
    from attest.fsutil import atomic_write
    from attest.signing import key_id, load_private_key
    from attest.trust import TrustPolicy, make_document

    if (args.out.exists() or args.out.is_symlink()) and not args.force:
        raise ConfigError(f"{args.out}: already exists (use --force to replace it)")
    keys = [load_private_key(k) for k in args.key]
    draft = TrustPolicy.from_file(args.draft)
    doc = make_document(draft, version=args.version, out_dir=args.out.parent)
    for key in keys:
        doc = doc.signed_by(key)
    atomic_write(args.out, doc.to_bytes())
    print(f"wrote {args.out}: trust policy version {doc.version}, payload sha256 {doc.digest}")
    for key in keys:
        note = _key_note(doc, key_id(key.public_key()))
        if note is not None:
            print(note)
    _print_progress(doc)
    return 0


def _sign(args: argparse.Namespace) -> int:
    from attest.fsutil import atomic_write
    from attest.report import printable
    from attest.signing import key_id, load_private_key

    keys = [load_private_key(path) for path in args.key]  # all loaded before anything is written
    doc = _read_document(args.file)  # never sign what we cannot read
    for key in keys:
        doc = doc.signed_by(key)
    out = args.out or args.file
    atomic_write(out, doc.to_bytes())
    print(f"signed {out}: {len(doc.envelope.signatures)} signature(s); payload sha256 {doc.digest}")
    for key in keys:
        kid = key_id(key.public_key())
        note = _key_note(doc, kid)
        print(note if note is not None else f"key:    {printable(doc.policy.key_name(kid) or kid)}")
    _print_progress(doc)
    return 0


def _key_note(doc: PolicyDocument, kid: str) -> str | None:
    """What a signature by key ``kid`` is worth when it is not one of ``doc``'s own keys (``None`` when it is).

    Such a signature never counts toward the document's own ``policy_threshold``;
    from version 2 on it counts toward the approval by the version before when
    that version lists the key (a key this version revokes or removes is still
    a key of the version before: that is how the version before approves it).
    """
    from attest.report import printable

    p = doc.policy
    if p.key_name(kid) is not None:
        return None
    revoked = p.revocation_of_key(kid)
    what = (
        f"warning: key {kid} is revoked in version {doc.version} ({printable(revoked.reason)})"
        if revoked is not None
        else f"note: key {kid} is not a key of version {doc.version}"
    )
    if doc.version == 1:
        return f"{what}: its signature never counts (version 1 has no version before it to approve it)"
    return (
        f"{what}: its signature does not count toward this version's own keys, only toward the approval by "
        f"version {doc.version - 1}, if that version lists it as a key"
    )


def _print_progress(doc: PolicyDocument) -> None:
    from attest.report import printable

    p = doc.policy
    good = {k.key_id for k in doc.key_signers(p.keys)}
    missing = [k.id for k in p.keys if k.key_id not in good]
    state = "met" if len(good) >= p.signing_threshold else "NOT met"
    print(f"own keys: {len(good)} of {p.signing_threshold} required ({state})", end="")
    print(f"; not yet signed by: {printable(', '.join(missing))}" if missing else "")
    if doc.version > 1:
        print(
            f"a dock at version {doc.version - 1} also needs the signatures of that version's keys "
            "(its policy_threshold) before it accepts this one, and refuses it if it drops a revocation of that version"
        )


def _read_document(path: Path) -> PolicyDocument:
    from attest.errors import ConfigError
    from attest.trust import PolicyDocument, read_trust_file

    found = read_trust_file(path)
    if not isinstance(found, PolicyDocument):
        raise ConfigError(f"{path}: a TOML draft, not a signed policy document; make one with 'attest trust init'")
    return found


def _show(args: argparse.Namespace) -> int:
    from attest.errors import ConfigError
    from attest.trust import PolicyDocument, TrustStore, read_trust_file

    store = TrustStore(state_dir(args))
    stored = store.read()
    doc: PolicyDocument | None
    if args.file is None:
        if stored is None:
            raise ConfigError(
                f"{store.path}: this dock has accepted no signed trust policy yet ('attest trust update')"
            )
        # Read as the dock reads it: a stored root that does not match its pin is a corrupt store (exit 2).
        doc, policy, where = stored, store.policy(stored), str(store.path)
    else:
        where = str(args.file)
        found = read_trust_file(args.file)
        doc, policy = (found, found.policy) if isinstance(found, PolicyDocument) else (None, found)
    obj = _describe(policy, doc, file=None if args.file is None else where, stored=stored)
    if args.json:
        json.dump(obj, sys.stdout, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        _show_text(obj, where)
    return 0


def _describe(
    policy: TrustPolicy, doc: PolicyDocument | None, *, file: str | None, stored: PolicyDocument | None
) -> dict[str, Any]:
    """The object of ``trust show --json``."""
    from attest.timeutil import format_time

    roots = {pin.signer: pin for pin in doc.roots} if doc is not None else {}
    signatures: list[dict[str, Any]] = []
    self_signed = None
    if doc is not None:
        signatures = _signature_report(doc, policy)
        self_signed = {"required": policy.signing_threshold, "valid": len(doc.key_signers(policy.keys))}
    return {
        "file": file,
        "format": "signed" if doc is not None else "toml",
        "version": policy.version,
        "payload_sha256": doc.digest if doc is not None else None,
        "expires": format_time(policy.expires) if policy.expires is not None else None,
        "expired": policy.expired(datetime.now(UTC)),
        "threshold": policy.threshold,
        "policy_threshold": policy.signing_threshold if doc is not None else None,
        "keys": [{"id": k.id, "keyid": k.key_id} for k in policy.keys],
        "sigstore": [
            {
                "id": s.id,
                "identity": s.identity,
                "issuer": s.issuer,
                "trusted_root": str(s.trusted_root),
                "trusted_root_sha256": roots[s.id].sha256 if s.id in roots else None,
            }
            for s in policy.sigstore
        ],
        "revoked": [{"id": r.id, "key": r.key, "identity": r.identity, "reason": r.reason} for r in policy.revoked],
        "signatures": signatures,
        "self_signed": self_signed,
        "accepted_version": stored.version if stored is not None else None,
    }


def _signature_report(doc: PolicyDocument, policy: TrustPolicy) -> list[dict[str, Any]]:
    """Each signature judged by itself, by the rule that counts it (the keyid hint only names what failed).

    ``valid`` (a key of this version made it; a hint, if any, names that key), ``invalid`` (the hint
    names a key of this version that did not make it), ``revoked`` (the hint names a revoked key),
    ``unknown_key`` (anything else).
    """
    from attest.signing import pae, signature_checker

    env = doc.envelope
    message = pae(env.payload_type, env.payload)
    checkers = [(k, signature_checker(k.key)) for k in policy.keys]
    out: list[dict[str, Any]] = []
    for sig in env.signatures:
        # As Envelope.verified_keys: a non-empty hint limits the candidates, and never accepts by itself.
        made_by = next(
            (k for k, check in checkers if (not sig.keyid or sig.keyid == k.key_id) and check(sig.sig, message)),
            None,
        )
        name = made_by.id if made_by is not None else policy.key_name(sig.keyid)
        if made_by is not None:
            status = "valid"
        elif name is not None:
            status = "invalid"
        else:
            status = "revoked" if policy.revocation_of_key(sig.keyid) else "unknown_key"
        out.append({"keyid": sig.keyid, "status": status, "key": name})
    return out


def _show_text(obj: dict[str, Any], where: str) -> None:
    from attest.report import printable as p

    print(f"file:        {p(where)}")
    if obj["format"] == "toml":
        print("format:      plain TOML (cannot rotate: sign it with 'attest trust init')")
    else:
        print(f"format:      signed document, version {obj['version']}")
        print(f"payload:     sha256 {obj['payload_sha256']}")
    expires = obj["expires"] or "never"
    print(f"expires:     {expires}{' (EXPIRED)' if obj['expired'] else ''}")
    # Distinct signers, as they are counted: one key (or identity) under two ids of a TOML policy is one.
    keys = len({k["keyid"] for k in obj["keys"]})
    signers = keys + len({s["identity"] for s in obj["sigstore"]})
    print(f"threshold:   {obj['threshold']} of {signers} signers approve a baseline")
    if obj["policy_threshold"] is not None:
        print(f"next:        {obj['policy_threshold']} of {keys} keys approve the next version")
    print(f"keys:        {len(obj['keys'])}")
    for k in obj["keys"]:
        print(f"  {p(k['id'])}  {k['keyid']}")
    print(f"sigstore:    {len(obj['sigstore'])}")
    for s in obj["sigstore"]:
        pin = f", sha256 {s['trusted_root_sha256']}" if s["trusted_root_sha256"] else ""
        print(f"  {p(s['id'])}  {p(s['identity'])} (issuer {p(s['issuer'])}; root {p(s['trusted_root'])}{pin})")
    print(f"revoked:     {len(obj['revoked'])}")
    for r in obj["revoked"]:
        who = f"key {r['key']}" if r["key"] else f"identity {p(r['identity'])}"
        name = f"{p(r['id'])}: " if r["id"] else ""
        print(f"  {name}{who}: {p(r['reason'])}")
    if obj["self_signed"] is not None:
        print(f"signatures:  {len(obj['signatures'])}")
        # Neither a revoked nor an unknown signer can be checked here (a revocation holds a key id, not a key),
        # and neither counts toward this version's own keys: at most toward the approval by the version before.
        before = (
            "never counts" if obj["version"] == 1 else f"counts at most as approval by version {obj['version'] - 1}"
        )
        labels = {
            "valid": "valid (key {})",
            "invalid": "INVALID (key {})",
            "revoked": f"keyid of a REVOKED key (not checked; {before})",
            "unknown_key": f"not by a key of this version ({before})",
        }
        for sig in obj["signatures"]:
            print(f"  {p(sig['keyid'] or '(no keyid)')}  {p(labels[sig['status']].format(sig['key']))}")
        ss = obj["self_signed"]
        met = "met" if ss["valid"] >= ss["required"] else "NOT met"
        print(f"own keys:    {ss['valid']} valid of {ss['required']} required ({met})")
    accepted = obj["accepted_version"]
    print(f"this dock:   {'accepted version ' + str(accepted) if accepted is not None else 'no signed policy yet'}")


def _update(args: argparse.Namespace) -> int:
    from attest.trust import TrustStore, update_trust

    previous, doc = update_trust(args.file, state_dir(args))
    stored = TrustStore(state_dir(args)).path
    if previous == doc.version:
        print(f"trust policy version {doc.version} is already accepted on this dock ({stored})")
    elif previous is None:
        print(f"accepted trust policy version {doc.version} as this dock's first; stored in {stored}")
    else:
        print(f"accepted trust policy version {doc.version} (was {previous}); stored in {stored}")
    return 0
