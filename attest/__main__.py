"""``python -m attest``: the same as the ``attest`` console script."""

from __future__ import annotations

import sys

from attest._cli import main

sys.exit(main())
