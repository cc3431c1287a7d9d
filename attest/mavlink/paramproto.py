"""Read every parameter with the classic protocol: PARAM_REQUEST_LIST, then re-request gaps.

Used when a controller offers no ``@PARAM/param.pck`` (PX4, or ArduPilot with
FTP disabled). Lost PARAM_VALUE messages are asked for again by index with
PARAM_REQUEST_READ. The read completes only when every index below
``param_count`` has arrived, with one consistent count and unique names;
anything else raises.

Only a parameter index not seen before is progress: a controller repeating
values the dock already has gains no time. The whole read must average
:data:`RATE_FLOOR` new parameters per second after the first link timeout.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from attest.errors import CollectionError, TransportError
from attest.mavlink.frames import mavlink
from attest.mavlink.link import Link
from attest.mavlink.params import Param, ParamFormatError, param_from_value
from attest.transports import Budget

__all__ = ["fetch_params"]

_PARAM_VALUE = struct.Struct("<4sHH16sB")
#: Gap re-requests sent at once (a controller's queue is small).
_GAP_BATCH = 24
#: The most parameters accepted (ArduCopter 4.7 has 1,354).
MAX_PARAMS = 20_000
#: The slowest average rate, in new parameters per second, a read may keep after its
#: first link timeout (115,200 baud carries about 300 per second).
RATE_FLOOR = 20


def fetch_params(link: Link, *, bytewise: bool, on_count: Callable[[int], None] | None = None) -> list[Param]:
    """Every parameter of the controller behind ``link``.

    Args:
        link: a link locked onto the autopilot.
        bytewise: integers are encoded bytewise in ``param_value`` (PX4).
        on_count: progress callback (parameters just received).

    Raises:
        TransportError: no PARAM_VALUE arrived, no new parameter for the link timeout, or
            fewer than :data:`RATE_FLOOR` new parameters per second on average.
        CollectionError: inconsistent counts, indexes or names, or a malformed value.
    """
    got: dict[int, Param] = {}
    count: int | None = None
    # Silence that ends a round: a multiple of the gap between PARAM_VALUEs seen so far.
    idle_cap = min(1.0, max(0.2, link.timeout / 10))
    idle = idle_cap
    first_at: float | None = None
    request = mavlink.MAVLink_param_request_list_message(link.target_system, link.target_component)
    link.send(request)
    budget = Budget(link.timeout, RATE_FLOOR, what="parameter read", unit="parameters", target=link.transport.target)
    last_progress = time.monotonic()
    requested_at = last_progress

    def pause() -> float:
        # The end of this round: a pause after the last new parameter, never past the bounds.
        return min(time.monotonic() + idle, last_progress + link.timeout, budget.deadline)

    while count is None or len(got) < count:
        deadline = pause()
        while (frame := link.recv(deadline)) is not None:
            if frame.msgid != mavlink.MAVLINK_MSG_ID_PARAM_VALUE:
                continue
            bits, n, index, name, ptype = _PARAM_VALUE.unpack_from(frame.payload)
            if index == 0xFFFF:
                continue  # an unsolicited update, not part of the list
            if count is None:
                if not 0 < n <= MAX_PARAMS:
                    raise CollectionError(f"controller reports {n} parameters")
                count = n
            elif n != count:
                raise CollectionError(f"parameter count changed during the read ({count} -> {n})")
            if index >= count:
                raise CollectionError(f"PARAM_VALUE index {index} outside 0..{count - 1}")
            try:
                param = param_from_value(name, bits, ptype, bytewise=bytewise)
            except ParamFormatError as e:
                raise CollectionError(f"PARAM_VALUE {index}: {e}") from e
            old = got.get(index)
            if old is not None and old != param:
                raise CollectionError(f"parameter {index} changed during the read ({old} -> {param})")
            if old is not None:
                continue  # a repeat: no progress, no more time
            got[index] = param
            budget.done += 1
            last_progress = time.monotonic()
            first_at = first_at if first_at is not None else last_progress
            if len(got) > 8:
                idle = min(idle_cap, max(0.1, 20 * (last_progress - first_at) / len(got)))
            if on_count is not None:
                on_count(1)
            if len(got) == count:
                break
            deadline = pause()
        now = time.monotonic()
        if count is not None and len(got) == count:
            break
        if now - last_progress >= link.timeout:
            raise TransportError(_stalled(link, count, got))
        budget.check()
        if count is None:
            if now - requested_at >= idle:
                link.send(request)  # the list request (or every answer) was lost
                requested_at = now
            continue
        missing = [i for i in range(count) if i not in got][:_GAP_BATCH]
        for i in missing:
            link.send(
                mavlink.MAVLink_param_request_read_message(link.target_system, link.target_component, b"", i),
            )
    params = [got[i] for i in range(len(got))]
    names = {p.name for p in params}
    if len(names) != len(params):
        raise CollectionError("controller sent two parameters with the same name")
    return params


def _stalled(link: Link, count: int | None, got: dict[int, Param]) -> str:
    target = link.transport.target
    if count is None:
        return f"{target}: no PARAM_VALUE in answer to PARAM_REQUEST_LIST within {link.timeout:g} s"
    first = next(i for i in range(count) if i not in got)
    return (
        f"{target}: no PARAM_VALUE for {count - len(got)} of {count} parameters "
        f"(first missing index {first}) within {link.timeout:g} s"
    )
