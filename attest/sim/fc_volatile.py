"""``attest sim fc --volatile``: the parameters a healthy controller changes by itself.

What :data:`attest.mavlink.VOLATILE_PARAMS` lists, as a real controller does it
(the sources are there):

* at every start, as after a boot with time and flights since the last one:
  ArduPilot's STAT_BOOTCNT, STAT_RUNTIME, STAT_FLTTIME, BARO1/2_GND_PRESS
  (a new ground pressure) and the SR0_ stream rates (a ground station
  connected); PX4's COM_FLIGHT_UUID, LND_FLIGHT_T_LO, SYS_RESTART_TYPE and
  EKF2_MAG_DECL. Each start draws new values, so two starts differ;
* while running: STAT_RUNTIME grows by ``period`` every ``period`` seconds
  (ArduPilot saves it every 30 s, the default), and COMPASS_DEC changes once,
  ``min(period, 20)`` seconds after the start (the first GPS fix with
  COMPASS_AUTODEC).

Every other parameter stays as it was, so a baseline that excludes the
volatile ones passes any start, and one that pins them drifts.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable

from attest.mavlink import Param

__all__ = ["DEFAULT_PERIOD", "VolatileParams"]

#: ArduPilot's AP_Stats flush interval: STAT_RUNTIME is saved this often.
DEFAULT_PERIOD = 30.0
#: Seconds after boot by which a GPS fix has set COMPASS_DEC (at most).
_FIX_AFTER = 20.0
_GCS_RATES = (1, 2, 4, 10, 50)


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


class VolatileParams:
    """Changes ``params`` in place (the list the parameter protocol and param.pck serve)."""

    def __init__(
        self,
        params: list[Param],
        autopilot: str,
        *,
        period: float = DEFAULT_PERIOD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare; nothing changes before :meth:`boot`.

        Args:
            params: the controller's parameters, changed in place.
            autopilot: ``ardupilot`` or ``px4``.
            period: seconds between STAT_RUNTIME saves (ArduPilot: 30).
            clock: monotonic seconds.
        """
        self._params = params
        self._px4 = autopilot == "px4"
        self._period = period
        self._clock = clock
        self._rng = random.Random()  # noqa: S311 (seeded from the OS: every start differs; not a secret)
        self._next_save = 0.0
        self._fix_at: float | None = None

    def _get(self, name: str) -> Param | None:
        return next((p for p in self._params if p.name == name), None)

    def _set(self, name: str, value: float) -> None:
        for i, p in enumerate(self._params):
            if p.name == name:
                new: int | float = _f32(value) if p.type == "float32" else int(value)
                self._params[i] = Param(name, p.type, new)
                return

    def _add(self, name: str, amount: int) -> None:
        p = self._get(name)
        if p is not None:
            self._set(name, p.value + amount)

    def boot(self) -> None:
        """The changes of a boot after time, flights and ground-station connections since the last one."""
        rng = self._rng
        now = self._clock()
        self._next_save = now + self._period
        if self._px4:
            self._add("COM_FLIGHT_UUID", rng.randint(1, 500))
            self._add("LND_FLIGHT_T_LO", rng.randint(1, 10**9))
            self._set("SYS_RESTART_TYPE", rng.choice((0, 1)))
            self._set("EKF2_MAG_DECL", rng.uniform(-20, 20))
            return
        self._add("STAT_BOOTCNT", rng.randint(1, 5000))
        self._add("STAT_RUNTIME", rng.randint(60, 10**6))
        self._add("STAT_FLTTIME", rng.randint(1, 10**5))
        for baro in ("BARO1_GND_PRESS", "BARO2_GND_PRESS"):
            self._set(baro, 101325 + rng.uniform(-900, 900))
        for p in list(self._params):
            if p.name.startswith("SR0_") and p.name != "SR0_PARAMS":  # what this start's ground station asked for
                self._set(p.name, rng.choice([r for r in _GCS_RATES if r != p.value]))
        self._fix_at = now + min(self._period, _FIX_AFTER)

    def tick(self) -> None:
        """Apply what is due: a STAT_RUNTIME save, the declination of the first GPS fix."""
        now = self._clock()
        if self._px4:
            return
        while now >= self._next_save:
            self._add("STAT_RUNTIME", round(self._period) or 1)
            self._next_save += self._period
        if self._fix_at is not None and now >= self._fix_at:
            self._fix_at = None
            self._set("COMPASS_DEC", self._rng.uniform(-0.4, 0.4))  # radians, from the GPS position
