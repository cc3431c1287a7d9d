"""Device commands the collector runs, and what their failure means.

Every command is an argv list: :meth:`~attest.transports.adb.AdbConnection.shell`
quotes each argument (``shlex.quote``), so a name the device reported reaches
its shell as one literal word. Package names are also checked against
Android's own syntax before any command names them
(:func:`attest.collectors.adb.packages.valid_package_name`), so a name that
starts with ``-`` is never mistaken for an option either.

A command that ran and failed (exit status not 0) raises
:class:`CommandFailedError`; the caller decides whether that spoils one
package (an error component) or the whole run. A device without shell v2
(Android before 7) reports no exit status: its output is still parsed
strictly, so a failure shows as output that does not parse, never as success.
"""

from __future__ import annotations

from collections.abc import Sequence

from attest.errors import CollectionError
from attest.report import printable
from attest.transports.adb import AdbConnection

__all__ = ["CommandFailedError", "run"]


class CommandFailedError(CollectionError):
    """A device command ran and reported failure (a non-zero exit status)."""


def run(conn: AdbConnection, argv: Sequence[str], *, max_output: int) -> bytes:
    """Run ``argv`` on the device and return its standard output.

    Raises:
        CommandFailedError: it exited with a status other than 0.
        TransportError: output beyond ``max_output``, a wait without progress, a broken link.
    """
    result = conn.shell(argv, max_output=max_output)
    if result.status not in (0, None):
        why = printable(result.stderr.decode("utf-8", "replace").strip()[:200]) or "no message"
        shown = printable(" ".join(argv)[:120])
        raise CommandFailedError(f"{conn.label}: '{shown}' failed (exit status {result.status}): {why}")
    return result.stdout
