"""The flash read reports a total, so a long read shows a percentage (issue 10, item 6).

``@SYS/flash.bin`` stats as a placeholder (100000), so the only true total is
the size the baseline recorded for ``fc/flash``. Before the fix the flash read
always started its progress with no total: a 3-minute read at 115,200 baud
showed bytes and a rate but never how far along it was.
"""

from __future__ import annotations

from collections.abc import Callable

from fc_fixture import SMALL_FLASH, Sim

from attest.collectors.mavlink import MavlinkCollector
from attest.targets import TargetOptions

pytest_plugins = ["fc_fixture"]


class Recording:
    """A Progress that keeps every ``start`` and the bytes counted under it."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, int | None]] = []
        self.bytes: dict[str, int] = {}

    def start(self, total: int | None, label: str) -> None:
        self.parts.append((label, total))
        self.bytes[label] = 0

    def advance(self, n: int) -> None:
        self.bytes[self.parts[-1][0]] += n

    def finish(self) -> None:
        pass


def test_the_flash_read_has_the_baselines_size_as_its_total(sim_fc: Callable[..., Sim]) -> None:
    sim = sim_fc(*SMALL_FLASH)
    collector = MavlinkCollector(sim.path, TargetOptions(timeout=10.0))
    settings = collector.settings_extras() | {"selection": {"include": ["**"], "exclude": []}}

    first = Recording()  # baseline create: nothing expected yet, so no total
    evidence = collector.collect(settings, nonce="00" * 32, progress=first)
    assert dict(first.parts)["flash"] is None
    size = evidence.components["fc/flash"].attributes["size"]
    assert size == 256 * 1024 == first.bytes["flash"]

    again = Recording()  # verify: the baseline's components are expected
    collector.collect(settings, nonce="01" * 32, progress=again, expected=evidence.components)
    assert dict(again.parts)["flash"] == size
    assert again.bytes["flash"] == size  # the read still goes to EOF, whatever the total
