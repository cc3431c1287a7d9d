"""Ask every module on a DUML bus for its version, within hard time bounds.

:func:`sweep_versions` sends a version inquiry to every candidate address at
once, each with its own sequence number, and sends it again every ``every``
seconds to those that have not answered. A reply counts for a candidate only
when it is a version reply, addressed to the dock, carrying that candidate's
sequence number; then:

* sent by the candidate itself, with a payload of the described layout: the
  module's version (:class:`~attest.duml.version.ModuleVersion`);
* sent by **another** module (a module answering for another): that
  candidate's result is an error, whatever else arrives for it;
* a second answer from the same module that differs from its first: an error;
* encrypted, or a payload that does not decode: an error.

Everything else (pushes, requests, replies to other receivers, unknown
sequence numbers, frames failing their checks) is counted and ignored.

Sequence numbers are drawn at random for each candidate: a module that sees
its own inquiry cannot work out another's to answer in its name.

Time: the sweep ends ``quiet`` seconds after the last new result, or
``timeout`` seconds after it while an **expected** module has not answered
(each of those then gets an error saying so). Only progress (a candidate's
first result) earns time, and progress itself is bounded by a
:class:`~attest.transports.Budget`: after ``2 * timeout`` seconds the results
must have come at ``floor`` per second on average, or the sweep fails. So a
bus that drips one new answer at a time, or floods the line with noise, ends
within ``2 * timeout + candidates / floor`` seconds. When it ends, what the
line has already sent is read and judged too (at most ``settle_limit``
bytes, for a bus that never stops talking), and a frame a noise header was
holding back: an honest answer behind noise still turns a forged one into
an error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from attest.duml.frames import MIN_FRAME, Address, Frame
from attest.duml.link import Link
from attest.duml.modules import module_name
from attest.duml.version import CMD_ID, CMD_SET, MAX_REPLY, ModuleVersion, VersionReplyError, parse_version_reply
from attest.transports import Budget

__all__ = ["SETTLE_LIMIT", "VERSION_FRAME_MAX", "SweepResult", "sweep_versions"]

#: Bytes read from the line after a sweep ends, to judge answers that had arrived but were not read yet.
SETTLE_LIMIT = 64 * 1024
#: The longest frame a version reply can be (a reader of nothing else passes it to :class:`Link`).
VERSION_FRAME_MAX = MIN_FRAME + MAX_REPLY


@dataclass
class SweepResult:
    """What one sweep found.

    Attributes:
        versions: every module that answered cleanly.
        errors: every candidate whose answer could not be taken, and every
            expected module that did not answer, with why.
        asked: inquiry frames sent.
        unrelated: verified frames that were not version replies to the dock.
        foreign: version replies addressed to another module.
        stale: version replies to the dock with a sequence number it did not use.
        rejected: candidate frames that failed a check (noise, bad CRCs).
    """

    versions: dict[Address, ModuleVersion] = field(default_factory=dict)
    errors: dict[Address, str] = field(default_factory=dict)
    asked: int = 0
    unrelated: int = 0
    foreign: int = 0
    stale: int = 0
    rejected: int = 0


class _Sweep:
    def __init__(self, link: Link, candidates: list[Address]) -> None:
        self.link = link
        # A sequence number of its own for each candidate, unpredictable: a module that sees its own
        # inquiry must not be able to work out another's and answer it in that module's name.
        seqs = random.SystemRandom().sample(range(0x10000), len(candidates))
        self.seq_of = dict(zip(candidates, seqs, strict=True))
        self.addr_of = {s: a for a, s in self.seq_of.items()}
        self.result = SweepResult()
        self.done: set[Address] = set()  # candidates with a result (a version or an error)

    def ask(self, pending: Iterable[Address]) -> None:
        frames = [
            self.link.request(a, seq=self.seq_of[a], cmd_set=CMD_SET, cmd_id=CMD_ID)
            for a in pending
            if a not in self.done
        ]
        if frames:
            self.link.write(b"".join(frames))
            self.result.asked += len(frames)

    def candidate(self, frame: Frame) -> Address | None:
        """The candidate ``frame`` answers, or ``None`` (counted) when it answers nothing the dock asked."""
        r = self.result
        if not (frame.reply and frame.cmd_set == CMD_SET and frame.cmd_id == CMD_ID):
            r.unrelated += 1
        elif frame.receiver != self.link.me:
            r.foreign += 1
        elif frame.seq not in self.addr_of:
            r.stale += 1
        else:
            return self.addr_of[frame.seq]
        return None

    def take(self, frame: Frame) -> bool:
        """Record ``frame``; whether it gave a candidate its first result (progress)."""
        addr = self.candidate(frame)
        if addr is None:
            return False
        first = addr not in self.done
        self.done.add(addr)
        r = self.result
        if addr in r.errors:
            return first  # an error is final: nothing later makes the candidate trustworthy
        got = _judge(addr, frame)
        before = r.versions.pop(addr, None)
        if isinstance(got, str):
            r.errors[addr] = got
        elif before is not None and before.raw != got.raw:
            r.errors[addr] = (
                f"{module_name(addr)} answered its version inquiry twice, differently: "
                f"{before.firmware} ({before.hardware}) then {got.firmware} ({got.hardware})"
            )
        else:
            r.versions[addr] = got
        return first


def _judge(addr: Address, frame: Frame) -> ModuleVersion | str:
    """The version in ``frame``, a reply carrying ``addr``'s sequence number, or why it cannot be taken."""
    name = module_name(addr)
    if frame.sender != addr:
        return (
            f"the answer to {name}'s version inquiry came from {module_name(frame.sender)} "
            "(a module answering for another)"
        )
    if frame.encrypt:
        return f"{name} answered its version inquiry encrypted (type {frame.encrypt})"
    try:
        return parse_version_reply(frame.payload)
    except VersionReplyError as e:
        return f"{name}: {e}"


def sweep_versions(
    link: Link,
    candidates: Iterable[Address],
    *,
    expected: Collection[Address] = (),
    timeout: float,
    quiet: float,
    every: float = 0.5,
    floor: float = 10.0,
    settle_limit: int = SETTLE_LIMIT,
) -> SweepResult:
    """Ask ``candidates`` (and ``expected``) for their versions; see the module docstring.

    Args:
        link: the DUML link.
        candidates: addresses to ask.
        expected: addresses that must answer (the baseline's modules); they are asked too.
        timeout: seconds an expected module may take to answer after the last progress.
        quiet: seconds without a new result that end the sweep once every expected module answered.
        every: seconds between inquiries to a candidate that has not answered.
        floor: results per second required on average after ``2 * timeout`` seconds.
        settle_limit: the most bytes read from the line after the sweep ends (see the module docstring).

    Raises:
        TransportError: the transport failed, or results came slower than ``floor`` after the grace period.
    """
    ordered = list(dict.fromkeys([*candidates, *expected]))
    sweep = _Sweep(link, ordered)
    budget = Budget(2 * timeout, floor, what="DUML version inquiry", unit="modules", target=link.target)
    waiting = set(expected)
    last = time.monotonic()
    next_ask = last
    while True:
        now = time.monotonic()
        budget.check()
        if now >= next_ask:
            sweep.ask(ordered)
            next_ask = now + every
        end = last + (timeout if waiting - sweep.done else quiet)
        if now >= end:
            break
        frame = link.recv(min(end, next_ask, budget.deadline))
        if frame is not None and sweep.take(frame):
            last = time.monotonic()
            budget.done += 1
    # Every answer that had arrived is judged, not only those read in time: a module's honest,
    # different answer held back behind noise must still make its result an error.
    link.settle(limit=settle_limit)
    while (frame := link.recv(0)) is not None:
        sweep.take(frame)
    result = sweep.result
    result.rejected = link.rejected
    for addr in sorted(waiting - sweep.done):
        result.errors[addr] = f"{module_name(addr)} did not answer its version inquiry within {timeout:g} s"
    return result
