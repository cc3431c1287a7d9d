"""Parameters a healthy flight controller changes by itself, per autopilot, each with its source.

A baseline that pins these drifts within seconds of being made (STAT_RUNTIME
every 30 s), at every boot (STAT_BOOTCNT, the ground pressure), after every
flight (flight time and count) or whenever a ground station connects (the
telemetry stream rates). ``attest baseline create`` therefore excludes them
from a flight controller's baseline by default (:func:`creation_selection`),
``attest baseline show`` names each excluded entry with its reason, and an
``--include`` glob naming an entry keeps it measured.

Each entry is a glob over parameter names, written so that it cannot match a
parameter of the other autopilot or an unrelated one of its own
(``SR[0-9]_*``, not ``SR*_*``, which would also hide ArduPilot's SmartRTL
``SRTL_*`` settings; ``MAV*_RAW_SENS``, not ``MAV*``, which would hide
``MAVn_OPTIONS`` and PX4's ``MAV_SYS_ID``): one list serves both autopilots,
because the exclusions are chosen before the controller has said which it
is. Sources are the autopilots' own parameter definitions; most carry their
``@Volatile`` tag there. The human-readable table is in ``docs/mavlink.md``.

Pure data and string functions: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attest.selection import Selection, glob_to_regex

__all__ = ["VOLATILE_PARAMS", "VolatileParam", "creation_selection", "volatile_for_exclude"]


@dataclass(frozen=True)
class VolatileParam:
    """Parameters (a glob over names) that an autopilot changes by itself.

    Attributes:
        autopilot: ``ardupilot`` or ``px4``.
        glob: the names, as a selection glob without the ``param/`` prefix.
        why: when and why the controller changes them.
        source: where the autopilot defines and changes them.
    """

    autopilot: str
    glob: str
    why: str
    source: str

    @property
    def exclude(self) -> str:
        """The selection glob ``baseline create`` records (``param/<glob>``)."""
        return f"param/{self.glob}"


_AP_STATS = "ArduPilot libraries/AP_Stats/AP_Stats.cpp"
_AP_BARO = "ArduPilot libraries/AP_Baro/AP_Baro.cpp (@Volatile)"
_AP_STREAMS = "ArduPilot libraries/GCS_MAVLink/GCS_Common.cpp, GCS_MAVLINK::handle_request_data_stream"
_AP_STREAMS_47 = "ArduPilot libraries/GCS_MAVLink/GCS_MAVLink_Parameters.cpp (4.7 renamed SRn_ to MAV(n+1)_)"
#: The stream-rate suffixes of ArduPilot's telemetry channels (GCS_MAVLINK::var_info), MAVn_OPTIONS excepted.
_STREAMS = ("RAW_SENS", "EXT_STAT", "RC_CHAN", "RAW_CTRL", "POSITION", "EXTRA1", "EXTRA2", "EXTRA3", "PARAMS", "ADSB")

#: Every entry, ArduPilot first. Keep docs/mavlink.md's table in step.
VOLATILE_PARAMS: tuple[VolatileParam, ...] = (
    VolatileParam("ardupilot", "STAT_BOOTCNT", "boot count: +1 at every boot", f"{_AP_STATS}, AP_Stats::init"),
    VolatileParam(
        "ardupilot",
        "STAT_RUNTIME",
        "total run time: saved every 30 s while powered",
        f"{_AP_STATS}, AP_Stats::update (flush_interval_ms = 30000)",
    ),
    VolatileParam("ardupilot", "STAT_FLTTIME", "total flight time: grows with every flight", _AP_STATS),
    VolatileParam("ardupilot", "STAT_FLTCNT", "flight count: +1 with every flight (newer releases)", _AP_STATS),
    VolatileParam("ardupilot", "STAT_DISTFLWN", "distance flown: grows with every flight (newer releases)", _AP_STATS),
    VolatileParam("ardupilot", "BARO*_GND_PRESS", "ground pressure: calibrated at every boot", _AP_BARO),
    VolatileParam(
        "ardupilot",
        "BARO_GND_TEMP",
        "ground temperature: not saved (0 after a boot), set by ground stations",
        _AP_BARO,
    ),
    VolatileParam(
        "ardupilot",
        "GND_ABS_PRESS*",
        "ground pressure under its older name (group GND_): calibrated at every boot",
        _AP_BARO,
    ),
    VolatileParam(
        "ardupilot",
        "GND_TEMP",
        "ground temperature under its older name (group GND_): calibrated at every boot",
        _AP_BARO,
    ),
    VolatileParam(
        "ardupilot",
        "COMPASS_DEC",
        "declination: set from the first GPS fix after boot when COMPASS_AUTODEC is 1 (COMPASS_AUTODEC is measured)",
        "ArduPilot libraries/AP_Compass/AP_Compass.cpp, Compass::set_initial_location",
    ),
    VolatileParam(
        "ardupilot",
        "SR[0-9]_*",
        "telemetry stream rates (ArduPilot up to 4.6): set by every ground station that connects",
        _AP_STREAMS,
    ),
    *(
        VolatileParam(
            "ardupilot",
            f"MAV*_{suffix}",
            "telemetry stream rate (ArduPilot 4.7 and later): set by every ground station that connects",
            _AP_STREAMS_47,
        )
        for suffix in _STREAMS
    ),
    VolatileParam(
        "px4",
        "COM_FLIGHT_UUID",
        "next flight's id: +1 after every flight, on disarming",
        "PX4 src/modules/commander/commander_params.c (@volatile)",
    ),
    VolatileParam(
        "px4",
        "LND_FLIGHT_T_*",
        "total flight time (LND_FLIGHT_T_HI, LND_FLIGHT_T_LO): grows with every flight",
        "PX4 src/modules/land_detector/land_detector_params.c (@volatile)",
    ),
    VolatileParam(
        "px4",
        "SYS_RESTART_TYPE",
        "the kind of the last restart: set by px4io at boot",
        "PX4 system_params.c (@volatile)",
    ),
    VolatileParam(
        "px4",
        "EKF2_MAG_DECL",
        "declination: saved by the EKF at every disarm when EKF2_DECL_TYPE asks so (EKF2_DECL_TYPE is measured)",
        "PX4 src/modules/ekf2 parameters (@volatile)",
    ),
    VolatileParam(
        "px4",
        "EKF2_MAGBIAS_*",
        "magnetometer bias learned in flight and saved from the last one (older releases)",
        "PX4 src/modules/ekf2/ekf2_params.c (@volatile)",
    ),
)


def volatile_for_exclude(pattern: str) -> VolatileParam | None:
    """The entry whose default exclusion is exactly ``pattern`` (``param/STAT_RUNTIME``), if any."""
    return next((v for v in VOLATILE_PARAMS if v.exclude == pattern), None)


def _names(pattern: str, entry: VolatileParam) -> bool:
    """Whether ``--include pattern`` names ``entry``: a ``param/`` glob matching the entry, or matched by it."""
    if not pattern.startswith("param/"):
        return False
    return (
        glob_to_regex(pattern).fullmatch(entry.exclude) is not None
        or glob_to_regex(entry.exclude).fullmatch(pattern) is not None
    )


def creation_selection(include: Sequence[str] | None, exclude: Sequence[str] | None) -> Selection:
    """The selection ``baseline create`` records for a flight controller.

    * Every entry of :data:`VOLATILE_PARAMS` is excluded, after the user's
      ``exclude`` globs, unless one of them already covers it.
    * An ``include`` glob under ``param/`` that matches an entry
      (``param/STAT_*``, ``param/**``) or that the entry matches
      (``param/SR0_RAW_SENS``) keeps that whole entry measured.
    * Includes that only keep volatile entries measured do not narrow what is
      measured (the include list is then ``**`` plus them); any other include
      narrows as usual.

    Raises:
        ConfigError: a malformed glob.
    """
    includes = list(include or [])
    excludes = list(exclude or [])
    kept = [v for v in VOLATILE_PARAMS if any(_names(p, v) for p in includes)]
    overriding = [p for p in includes if any(_names(p, v) for v in VOLATILE_PARAMS)]
    narrowing = [p for p in includes if p not in overriding]
    user_excluded = [glob_to_regex(p) for p in excludes]
    for v in VOLATILE_PARAMS:
        if v in kept or any(r.fullmatch(v.exclude) for r in user_excluded) or v.exclude in excludes:
            continue
        excludes.append(v.exclude)
    final_include = includes if narrowing else ["**", *overriding]
    return Selection(include=tuple(final_include), exclude=tuple(excludes))
