"""The one exception an APK parser raises for bad input, and the one that asks for more of the file.

An APK comes from a device and may be hostile. Whatever its bytes, the
parsers of :mod:`attest.apk` raise only :class:`ApkFormatError` (a
:class:`~attest.errors.CollectionError`, exit 3: the device answered, but the
package's signing certificate could not be measured), never another exception.
"""

from __future__ import annotations

from attest.errors import CollectionError

__all__ = ["ApkFormatError", "ApkNotSignedError", "ApkTailTooShortError"]


class ApkFormatError(CollectionError):
    """An APK is malformed, ambiguous, over a limit, or its signatures do not verify (exit 3)."""


class ApkNotSignedError(ApkFormatError):
    """A well-formed APK with no v1, v2, v3 or v3.1 signature at all.

    Android installs no such APK; a collector may record "unsigned" rather than an error
    (a baseline then sees a signature added or stripped). Raised only after the ZIP and any
    signing block parsed cleanly and no stripped scheme was announced.
    """


class ApkTailTooShortError(ApkFormatError):
    """The tail given to :func:`~attest.apk.read_signing_from_tail` does not reach what must be read.

    Not a verdict on the APK: call again with at least :attr:`needed` bytes of its
    end (or the whole file). Still an :class:`ApkFormatError`, so a caller that
    does not retry fails closed.

    Attributes:
        needed: how many bytes from the end of the file the parser must see.
    """

    def __init__(self, message: str, *, needed: int) -> None:
        super().__init__(message)
        self.needed = needed
