"""The audit sample: which of the files a device vouched for the dock reads itself, chosen by the run's nonce.

Shared by every collector that lets a device report digests (SSH remote and
pull cross-checks, Android remote mode). Each name is ranked by
SHA-256(nonce, NUL, name) and the lowest ranks are taken: unpredictable to a
device that never sees the nonce before it has answered, and reproducible
from the logged nonce by an auditor. No transport here, so a collector can
use it without loading another collector's protocol stack.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

__all__ = ["AUDIT_FRACTION", "AUDIT_MIN", "audit_sample"]

#: Audit sample: at least this many files ...
AUDIT_MIN = 8
#: ... or this fraction of them, whichever is larger.
AUDIT_FRACTION = 0.02


def audit_sample(names: Sequence[str], nonce: str, size: int | None = None) -> list[str]:
    """The names the dock checks itself, chosen by ``nonce``, sorted.

    Args:
        names: what the device reported digests for (or streamed).
        nonce: the run's fresh nonce.
        size: how many (default: max(8, 2 %), never more than there are).
    """
    want = size if size is not None else max(AUDIT_MIN, math.ceil(len(names) * AUDIT_FRACTION))
    ranked = sorted(names, key=lambda n: hashlib.sha256(nonce.encode() + b"\0" + n.encode()).digest())
    return sorted(ranked[: min(want, len(names))])
