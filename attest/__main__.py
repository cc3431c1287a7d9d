"""``python -m attest`` and the ``attest`` console script.

:func:`run` is the entry point of both. It imports the command line inside a
``try``, so Ctrl-C at any moment, start-up included, ends with one line and
exit code 130, never a traceback.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["run"]

INTERRUPTED = 130


def run() -> None:
    """Run ``attest`` with ``sys.argv`` and exit with its code."""
    try:
        from attest._cli import main

        code = main()
    except KeyboardInterrupt:
        print("attest: interrupted", file=sys.stderr)
        code = INTERRUPTED
    # The process ends here: move every object out of the collector's reach, so that
    # finalisation does not walk them all in its collection passes (~10 ms after a verify).
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
