"""A pinned Sigstore trusted root, read once: sigstore's own object, and the ``validFor`` windows sigstore ignores.

:func:`load_root` builds sigstore-python's ``TrustedRoot`` from the bytes it
read (bounded, the same bytes a policy's pin checks) and keeps, beside it,
each transparency log's, CT log's and certificate authority's ``validFor``
window and the log keys: sigstore does not check when a key was retired, so
:mod:`attest.trust.sigstore` does. Imports sigstore only when called.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from attest.errors import ConfigError
from attest.fsutil import read_bounded
from attest.jsonutil import loads

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

__all__ = ["MAX_TRUSTED_ROOT_BYTES", "Root", "Window", "b64", "first_line", "load_root", "when"]

#: The largest trusted root file read (the production root is about 8 KB).
MAX_TRUSTED_ROOT_BYTES = 1024 * 1024


class Window(NamedTuple):  # NamedTuple, not a dataclass: a dataclass costs ~1 ms of import time each
    """A ``validFor`` time range of a trusted-root key or CA."""

    start: datetime | None
    end: datetime | None

    def holds(self, t: datetime) -> bool:
        """Whether ``t`` lies inside the window (an open end holds)."""
        return (self.start is None or self.start <= t) and (self.end is None or t <= self.end)

    def text(self) -> str:
        """The window for a reason: ``START to END``, ``…`` for an open end."""
        return f"{when(self.start) if self.start else '…'} to {when(self.end) if self.end else '…'}"


class Root(NamedTuple):
    """A pinned trusted root: sigstore's object, and the ``validFor`` windows sigstore ignores."""

    trusted_root: TrustedRoot
    tlogs: dict[bytes, Window]  # logId.keyId -> window
    tlog_keys: dict[bytes, tuple[str, bytes]]  # logId.keyId -> (keyDetails, SPKI DER)
    sha256: str  # of the file's bytes, for a pinned root
    ctlogs: dict[bytes, Window]
    cas: list[tuple[list[bytes], Window]]  # each CA's certificate chain (DER) and window


class _BadRootError(Exception):
    """A trusted root file of the wrong shape (becomes a ConfigError)."""


def load_root(path: Path) -> Root:
    """Read and check a trusted root file; sigstore's verifier is built once here, not per bundle.

    Raises:
        ConfigError: unreadable, too large, or not a root sigstore can use.
    """
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier
    from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage

    raw = read_bounded(path, MAX_TRUSTED_ROOT_BYTES, what="Sigstore trusted root")
    try:
        data = loads(raw)
        if not isinstance(data, dict):
            raise _BadRootError("not a JSON object")
        tlogs = _log_windows(data.get("tlogs"), "tlogs")
        tlog_keys = {
            b64(str(t["logId"].get("keyId", "")), "a log id"): (
                str(t.get("publicKey", {}).get("keyDetails", "")),
                b64(str(t.get("publicKey", {}).get("rawBytes", "")), "a log key"),
            )
            for t in data["tlogs"]
        }
        ctlogs = _log_windows(data.get("ctlogs"), "ctlogs")
        cas = _ca_windows(data.get("certificateAuthorities"))
        # What TrustedRoot.from_file does, on the bytes read once here (bounded, and the ones a pin checks).
        trusted_root = TrustedRoot(TrustedRootMessage.from_json(raw))
        Verifier(trusted_root=trusted_root)  # fails now, not per bundle, on a root it cannot use
    except ConfigError:
        raise
    except Exception as e:  # JSON, pydantic and sigstore errors all mean "unusable root"
        raise ConfigError(f"{path}: not a usable Sigstore trusted root: {first_line(e)}") from e
    return Root(
        trusted_root=trusted_root,
        tlogs=tlogs,
        tlog_keys=tlog_keys,
        ctlogs=ctlogs,
        cas=cas,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _log_windows(items: Any, what: str) -> dict[bytes, Window]:
    if not isinstance(items, list) or not items:
        raise _BadRootError(f"'{what}' must list at least one log")
    out: dict[bytes, Window] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("logId"), dict):
            raise _BadRootError(f"a '{what}' entry has no logId")
        key_id = b64(str(item["logId"].get("keyId", "")), "a log id")
        out[key_id] = _window(item.get("publicKey", {}).get("validFor"))
    return out


def _ca_windows(items: Any) -> list[tuple[list[bytes], Window]]:
    if not isinstance(items, list) or not items:
        raise _BadRootError("'certificateAuthorities' must list at least one CA")
    out: list[tuple[list[bytes], Window]] = []
    for item in items:
        certs = item.get("certChain", {}).get("certificates") if isinstance(item, dict) else None
        if not isinstance(certs, list) or not certs or not all(isinstance(c, dict) for c in certs):
            raise _BadRootError("a certificate authority has no certificates")
        chain = [b64(str(c.get("rawBytes", "")), "a CA certificate") for c in certs]
        out.append((chain, _window(item.get("validFor"))))
    return out


def _window(valid_for: Any) -> Window:
    if valid_for is None:
        return Window(None, None)
    if not isinstance(valid_for, dict):
        raise _BadRootError("validFor is not an object")
    start, end = valid_for.get("start"), valid_for.get("end")
    return Window(_rfc3339(start) if start is not None else None, _rfc3339(end) if end is not None else None)


_FRACTION = re.compile(r"\.(\d{1,9})")


def _rfc3339(text: Any) -> datetime:
    """A protobuf JSON timestamp (``2021-01-12T11:53:27Z``, up to nanoseconds) as an aware datetime."""
    if not isinstance(text, str):
        raise _BadRootError(f"not a time: {text!r}")
    s = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text)  # Python parses microseconds at most
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise _BadRootError(f"time without a zone: {text!r}")
    return t.astimezone(UTC)


def b64(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64 (protobuf JSON accepts both)."""
    s = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"bad base64 in {what}") from e


def first_line(e: BaseException) -> str:
    """The gist of an error: its first line, or for a pydantic validation error the field and the problem."""
    lines = [line.strip() for line in str(e).strip().splitlines()]
    if len(lines) >= 3 and "validation error" in lines[0]:
        return f"{lines[1]}: {lines[2].split(' [type=')[0]}"
    return lines[0] if lines else type(e).__name__


def when(t: datetime) -> str:
    """``t`` as RFC 3339 UTC to the second, for reasons."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
