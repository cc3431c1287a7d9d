"""The simulated flight controller's default parameters: about 1,000, with real names.

Generated, not copied: groups of ArduCopter-style (or PX4-style) names and
plausible values, the same on every run, so the demo baseline matches any
machine. Safety settings used in examples (FENCE_ENABLE, FS_THR_ENABLE,
RTL_ALT ...) have their usual values; STAT_* counters exist so that
``--exclude 'param/STAT_*'`` has something to exclude.
"""

from __future__ import annotations

from attest.mavlink.params import Param

__all__ = ["default_params", "parse_param_override"]

_F = "float32"

# (name, type, value) for ArduCopter; int types as ArduPilot declares them.
_ARDU_FIXED: list[tuple[str, str, int | float]] = [
    ("FORMAT_VERSION", "int16", 120),
    ("SYSID_THISMAV", "int16", 1),
    ("SYSID_MYGCS", "int16", 255),
    ("FRAME_CLASS", "int8", 1),
    ("FRAME_TYPE", "int8", 1),
    ("ARMING_CHECK", "int32", 1),
    ("ARMING_RUDDER", "int8", 2),
    ("FENCE_ENABLE", "int8", 1),
    ("FENCE_TYPE", "int8", 7),
    ("FENCE_ACTION", "int8", 1),
    ("FENCE_ALT_MAX", _F, 120.0),
    ("FENCE_RADIUS", _F, 500.0),
    ("FENCE_MARGIN", _F, 2.0),
    ("FS_THR_ENABLE", "int8", 1),
    ("FS_THR_VALUE", "int16", 975),
    ("FS_GCS_ENABLE", "int8", 1),
    ("FS_EKF_ACTION", "int8", 1),
    ("FS_EKF_THRESH", _F, 0.8),
    ("FS_CRASH_CHECK", "int8", 1),
    ("FS_OPTIONS", "int32", 16),
    ("RTL_ALT", "int16", 1500),
    ("RTL_ALT_FINAL", "int16", 0),
    ("RTL_SPEED", "int16", 0),
    ("RTL_LOIT_TIME", "int32", 5000),
    ("LAND_SPEED", "int16", 50),
    ("PILOT_SPEED_UP", "int16", 250),
    ("LOG_BITMASK", "int32", 176126),
    ("LOG_BACKEND_TYPE", "int8", 1),
    ("SCR_ENABLE", "int8", 1),
    ("SCR_HEAP_SIZE", "int32", 204800),
    ("SCR_VM_I_COUNT", "int32", 10000),
    ("SCR_DEBUG_OPTS", "int8", 0),
    ("BRD_SAFETY_DEFLT", "int8", 1),
    ("BRD_OPTIONS", "int32", 0),
    ("BRD_BOOT_DELAY", "int16", 0),
    ("STAT_BOOTCNT", "int16", 412),
    ("STAT_FLTTIME", "int32", 918_273),
    ("STAT_RUNTIME", "int32", 3_456_789),
    ("STAT_RESET", "int32", 1_700_000_000),
    ("GPS_TYPE", "int8", 1),
    ("GPS_AUTO_CONFIG", "int8", 1),
    ("AHRS_EKF_TYPE", "int8", 3),
    ("MOT_PWM_MIN", "int16", 1000),
    ("MOT_PWM_MAX", "int16", 2000),
    ("MOT_SPIN_ARM", _F, 0.1),
    ("MOT_SPIN_MIN", _F, 0.15),
    ("MOT_THST_HOVER", _F, 0.35),
    ("BATT_MONITOR", "int8", 4),
    ("BATT_CAPACITY", "int32", 5200),
    ("BATT_LOW_VOLT", _F, 14.4),
    ("BATT_CRT_VOLT", _F, 13.8),
    ("BATT_FS_LOW_ACT", "int8", 2),
    ("BATT_FS_CRT_ACT", "int8", 1),
]

# (prefix, count or None, suffixes): NAME = prefix + index + suffix
_ARDU_GROUPS: list[tuple[str, int, list[tuple[str, str]]]] = [
    (
        "SERVO",
        16,
        [("_MIN", "int16"), ("_MAX", "int16"), ("_TRIM", "int16"), ("_REVERSED", "int8"), ("_FUNCTION", "int16")],
    ),
    (
        "RC",
        16,
        [
            ("_MIN", "int16"),
            ("_MAX", "int16"),
            ("_TRIM", "int16"),
            ("_REVERSED", "int8"),
            ("_DZ", "int16"),
            ("_OPTION", "int16"),
        ],
    ),
    ("SERIAL", 8, [("_BAUD", "int32"), ("_PROTOCOL", "int8"), ("_OPTIONS", "int16")]),
    ("FLTMODE", 6, [("", "int8")]),
    (
        "BATT",
        9,
        [
            ("_MONITOR", "int8"),
            ("_VOLT_PIN", "int8"),
            ("_CURR_PIN", "int8"),
            ("_VOLT_MULT", _F),
            ("_AMP_PERVLT", _F),
            ("_CAPACITY", "int32"),
            ("_LOW_VOLT", _F),
            ("_CRT_VOLT", _F),
            ("_FS_LOW_ACT", "int8"),
            ("_OPTIONS", "int32"),
        ],
    ),
    ("COMPASS_OFS", 3, [("_X", _F), ("_Y", _F), ("_Z", _F)]),
    ("COMPASS_DIA", 3, [("_X", _F), ("_Y", _F), ("_Z", _F)]),
    ("COMPASS_ODI", 3, [("_X", _F), ("_Y", _F), ("_Z", _F)]),
    ("COMPASS_DEV_ID", 8, [("", "int32")]),
    (
        "INS_ACC",
        3,
        [
            ("OFFS_X", _F),
            ("OFFS_Y", _F),
            ("OFFS_Z", _F),
            ("SCAL_X", _F),
            ("SCAL_Y", _F),
            ("SCAL_Z", _F),
            ("_ID", "int32"),
        ],
    ),
    ("INS_GYR", 3, [("OFFS_X", _F), ("OFFS_Y", _F), ("OFFS_Z", _F), ("_ID", "int32"), ("_CALTEMP", _F)]),
    (
        "RNGFND",
        10,
        [
            ("_TYPE", "int8"),
            ("_PIN", "int8"),
            ("_SCALING", _F),
            ("_OFFSET", _F),
            ("_MIN_CM", "int16"),
            ("_MAX_CM", "int16"),
            ("_ORIENT", "int8"),
            ("_ADDR", "int8"),
        ],
    ),
    (
        "CAN_D",
        2,
        [
            ("_PROTOCOL", "int8"),
            ("_UC_NODE", "int8"),
            ("_UC_OPTION", "int16"),
            ("_UC_ESC_BM", "int32"),
            ("_UC_SRV_BM", "int32"),
        ],
    ),
    ("CAN_P", 2, [("_DRIVER", "int8"), ("_BITRATE", "int32"), ("_FDBITRATE", "int8")]),
    ("RELAY", 6, [("_FUNCTION", "int8"), ("_PIN", "int8"), ("_DEFAULT", "int8")]),
    ("SCR_USER", 6, [("", _F)]),
    (
        "PRX",
        2,
        [("_TYPE", "int8"), ("_ORIENT", "int8"), ("_YAW_CORR", "int16"), ("_IGN_ANG1", "int16"), ("_IGN_WID1", "int8")],
    ),
]

_ARDU_BLOCKS: dict[str, list[str]] = {
    "ATC_": [
        f"RAT_{ax}_{g}"
        for ax in ("RLL", "PIT", "YAW")
        for g in ("P", "I", "D", "FF", "IMAX", "FLTT", "FLTD", "FLTE", "SMAX", "PDMX", "D_FF", "NTF", "NEF")
    ]
    + [
        "ANG_RLL_P",
        "ANG_PIT_P",
        "ANG_YAW_P",
        "ACCEL_R_MAX",
        "ACCEL_P_MAX",
        "ACCEL_Y_MAX",
        "SLEW_YAW",
        "THR_MIX_MIN",
        "THR_MIX_MAX",
        "THR_MIX_MAN",
        "INPUT_TC",
        "RATE_FF_ENAB",
        "ANGLE_BOOST",
        "ANG_LIM_TC",
        "RATE_R_MAX",
        "RATE_P_MAX",
        "RATE_Y_MAX",
    ],
    "PSC_": [
        f"{k}_{g}"
        for k in ("POSXY", "VELXY", "POSZ", "VELZ", "ACCZ")
        for g in ("P", "I", "D", "IMAX", "FLTE", "FLTD", "FF", "FLTT", "SMAX", "D_FF", "NTF", "NEF", "PDMX")
    ]
    + ["ANGLE_MAX", "JERK_XY", "JERK_Z"],
    "EK3_": [f"SRC{i}_{k}" for i in (1, 2, 3) for k in ("POSXY", "VELXY", "POSZ", "VELZ", "YAW")]
    + [
        "ENABLE",
        "IMU_MASK",
        "GPS_CHECK",
        "ALT_M_NSE",
        "VELNE_M_NSE",
        "VELD_M_NSE",
        "POSNE_M_NSE",
        "GYRO_P_NSE",
        "ACC_P_NSE",
        "GBIAS_P_NSE",
        "ABIAS_P_NSE",
        "WIND_P_NSE",
        "WIND_PSCALE",
        "MAG_CAL",
        "MAG_M_NSE",
        "MAG_I_GATE",
        "YAW_M_NSE",
        "YAW_I_GATE",
        "EAS_M_NSE",
        "EAS_I_GATE",
        "RNG_M_NSE",
        "RNG_I_GATE",
        "MAX_FLOW",
        "FLOW_M_NSE",
        "FLOW_I_GATE",
        "FLOW_DELAY",
        "TAU_OUTPUT",
        "HGT_DELAY",
        "HGT_I_GATE",
        "POS_I_GATE",
        "VEL_I_GATE",
        "BCN_M_NSE",
        "BCN_DELAY",
        "BCN_I_GTE",
        "RNG_USE_HGT",
        "RNG_USE_SPD",
        "TERR_GRAD",
        "ACC_BIAS_LIM",
        "MAGB_P_NSE",
        "MAGE_P_NSE",
        "BETA_MASK",
        "OGN_HGT_MASK",
        "VIS_VERR_MIN",
        "VIS_VERR_MAX",
        "WENC_VERR",
        "FLOW_USE",
        "HRT_FILT",
        "GND_EFF_DZ",
        "PRIMARY",
        "LOG_LEVEL",
        "GPS_VACC_MAX",
        "AFFINITY",
        "DRAG_BCOEF_X",
        "DRAG_BCOEF_Y",
        "DRAG_M_NSE",
        "DRAG_MCOEF",
        "OGNM_TEST_SF",
        "CHECK_SCALE",
        "ERR_THRESH",
        "OPTIONS",
    ],
    "WPNAV_": [
        "SPEED",
        "RADIUS",
        "SPEED_UP",
        "SPEED_DN",
        "ACCEL",
        "ACCEL_Z",
        "RFND_USE",
        "JERK",
        "TER_MARGIN",
        "ACCEL_C",
    ],
    "LOIT_": ["SPEED", "ANG_MAX", "ACC_MAX", "BRK_ACCEL", "BRK_JERK", "BRK_DELAY", "OPTIONS"],
    "GPS_": [
        "TYPE2",
        "NAVFILTER",
        "AUTO_SWITCH",
        "MIN_DGPS",
        "SBAS_MODE",
        "MIN_ELEV",
        "INJECT_TO",
        "SBP_LOGMASK",
        "RAW_DATA",
        "GNSS_MODE",
        "SAVE_CFG",
        "GNSS_MODE2",
        "RATE_MS",
        "RATE_MS2",
        "POS1_X",
        "POS1_Y",
        "POS1_Z",
        "POS2_X",
        "POS2_Y",
        "POS2_Z",
        "DELAY_MS",
        "DELAY_MS2",
        "BLEND_MASK",
        "DRV_OPTIONS",
        "COM_PORT",
        "COM_PORT2",
        "PRIMARY",
        "CAN_NODEID1",
        "CAN_NODEID2",
        "MB1_TYPE",
        "MB2_TYPE",
        "HDOP_GOOD",
    ],
    "INS_": [
        "GYRO_FILTER",
        "ACCEL_FILTER",
        "USE",
        "USE2",
        "USE3",
        "STILL_THRESH",
        "GYR_CAL",
        "TRIM_OPTION",
        "ACC_BODYFIX",
        "POS1_X",
        "POS1_Y",
        "POS1_Z",
        "POS2_X",
        "POS2_Y",
        "POS2_Z",
        "FAST_SAMPLE",
        "ENABLE_MASK",
        "GYRO_RATE",
        "LOG_BAT_CNT",
        "LOG_BAT_MASK",
        "LOG_BAT_OPT",
        "LOG_BAT_LGIN",
        "LOG_BAT_LGCT",
        "HNTCH_ENABLE",
        "HNTCH_FREQ",
        "HNTCH_BW",
        "HNTCH_ATT",
        "HNTCH_HMNCS",
        "HNTCH_REF",
        "HNTCH_MODE",
        "HNTCH_OPTS",
        "HNTC2_ENABLE",
        "TCAL_OPTIONS",
    ],
    "COMPASS_": [
        "ENABLE",
        "USE",
        "USE2",
        "USE3",
        "AUTODEC",
        "LEARN",
        "ORIENT",
        "ORIENT2",
        "ORIENT3",
        "EXTERNAL",
        "EXTERN2",
        "EXTERN3",
        "MOTCT",
        "DEC",
        "OFFS_MAX",
        "TYPEMASK",
        "FLTR_RNG",
        "AUTO_ROT",
        "PRIO1_ID",
        "PRIO2_ID",
        "PRIO3_ID",
        "OPTIONS",
        "SCALE",
        "SCALE2",
        "SCALE3",
        "DISBLMSK",
        "CUS_ROLL",
        "CUS_PIT",
        "CUS_YAW",
        "PMOT_EN",
        "CAL_FIT",
    ],
    "MOT_": [
        "SPIN_MAX",
        "BAT_VOLT_MAX",
        "BAT_VOLT_MIN",
        "BAT_CURR_MAX",
        "BAT_IDX",
        "THST_EXPO",
        "YAW_HEADROOM",
        "BOOST_SCALE",
        "SLEW_UP_TIME",
        "SLEW_DN_TIME",
        "SAFE_TIME",
        "SAFE_DISARM",
        "OPTIONS",
        "PWM_TYPE",
        "SPOOL_TIME",
        "SPOOL_TIM_DN",
        "HOVER_LEARN",
        "YAW_SV_ANGLE",
        "THST_HOVER_TC",
    ],
    "SIM_": [],
    "AVOID_": [
        "ENABLE",
        "ANGLE_MAX",
        "DIST_MAX",
        "MARGIN",
        "BEHAVE",
        "BACKUP_SPD",
        "ALT_MIN",
        "ACCEL_MAX",
        "BACKUP_DZ",
    ],
    "LOG_": [
        "DISARMED",
        "REPLAY",
        "FILE_BUFSIZE",
        "FILE_DSRMROT",
        "MAV_BUFSIZE",
        "FILE_TIMEOUT",
        "FILE_MB_FREE",
        "FILE_RATEMAX",
        "MAV_RATEMAX",
        "BLK_RATEMAX",
        "DARM_RATEMAX",
        "MAX_FILES",
    ],
    "OSD_": [
        "TYPE",
        "CHAN",
        "SW_METHOD",
        "OPTIONS",
        "FONT",
        "V_OFFSET",
        "H_OFFSET",
        "W_RSSI",
        "W_NSAT",
        "W_BATVOLT",
        "W_AVGCELLV",
        "W_RESTVOLT",
        "W_BATREM",
        "W_CURRENT",
        "W_TERALT",
        "CELL_COUNT",
        "UNITS",
        "MSG_TIME",
    ],
    "SR": [],
}

_PX4_PREFIXES = {
    "COM_": [
        "ARM_WO_GPS",
        "DISARM_LAND",
        "DISARM_PRFLT",
        "DL_LOSS_T",
        "RC_LOSS_T",
        "RCL_EXCEPT",
        "LOW_BAT_ACT",
        "OBL_RC_ACT",
        "POSCTL_NAVL",
        "ARM_CHK_ESCS",
        "PREARM_MODE",
        "FLT_PROFILE",
        "HOME_EN",
        "KILL_DISARM",
        "LKDOWN_TKO",
        "ARM_IMU_ACC",
        "ARM_IMU_GYR",
        "ARM_MAG_ANG",
        "ARM_EKF_POS",
        "ARM_EKF_VEL",
    ],
    "NAV_": [
        "DLL_ACT",
        "RCL_ACT",
        "ACC_RAD",
        "FW_ALT_RAD",
        "LOITER_RAD",
        "TRAFF_AVOID",
        "MIN_LTR_ALT",
        "MC_ALT_RAD",
        "FORCE_VT",
    ],
    "GF_": ["ACTION", "ALTMODE", "SOURCE", "COUNT", "MAX_HOR_DIST", "MAX_VER_DIST", "PREDICT"],
    "RTL_": [
        "RETURN_ALT",
        "DESCEND_ALT",
        "LAND_DELAY",
        "MIN_DIST",
        "TYPE",
        "CONE_ANG",
        "PLD_MD",
        "LOITER_RAD",
        "HDG_MD",
        "TIME_FACTOR",
    ],
    "SYS_": [
        "AUTOSTART",
        "AUTOCONFIG",
        "HAS_GPS",
        "HAS_MAG",
        "HAS_BARO",
        "MC_EST_GROUP",
        "USE_IO",
        "BL_UPDATE",
        "CAL_ACCEL",
        "CAL_GYRO",
        "CAL_BARO",
        "CAL_TDEL",
        "CAL_TMAX",
        "CAL_TMIN",
        "FAC_CAL_MODE",
        "FAILURE_EN",
        "HITL",
        "RESTART_TYPE",
        "STCK_EN",
    ],
}


def _value(name: str, ptype: str, i: int) -> int | float:
    seed = sum(name.encode()) * 131 + i * 7
    if ptype == "float32":
        return float(round(((seed % 20000) - 2000) / 997.0, 4))
    if ptype == "int8":
        return seed % 100
    if ptype == "int16":
        return seed % 3000
    return seed % 1_000_000


def _ardupilot() -> list[Param]:
    rows: dict[str, tuple[str, int | float]] = {n: (t, v) for n, t, v in _ARDU_FIXED}
    for prefix, count, suffixes in _ARDU_GROUPS:
        for i in range(1, count + 1):
            for suffix, ptype in suffixes:
                name = (
                    f"{prefix}{i}{suffix}"
                    if prefix not in ("INS_ACC", "INS_GYR")
                    else f"{prefix}{'' if i == 1 else i}{suffix}"
                )
                rows.setdefault(name, (ptype, _value(name, ptype, i)))
    for prefix, names in _ARDU_BLOCKS.items():
        for n in names:
            ptype = "float32" if not n.endswith(("ENABLE", "TYPE", "MASK", "OPTIONS", "USE", "ID")) else "int16"
            rows.setdefault(prefix + n, (ptype, _value(prefix + n, ptype, 0)))
    for i in range(7):  # stream rates
        for k in (
            "RAW_SENS",
            "EXT_STAT",
            "RC_CHAN",
            "RAW_CTRL",
            "POSITION",
            "EXTRA1",
            "EXTRA2",
            "EXTRA3",
            "PARAMS",
            "ADSB",
        ):
            rows.setdefault(f"SR{i}_{k}", ("int16", 4 if k != "PARAMS" else 10))
    rows = {n: v for n, v in rows.items() if len(n) <= 16}
    i = 0
    while len(rows) < 1000:  # the rest: per-output notch and logging tweaks, as a real vehicle accumulates
        i += 1
        for k in ("FREQ", "BW", "ATT"):
            rows.setdefault(f"FILT{i}_{k}", ("float32", _value(f"FILT{i}_{k}", "float32", i)))
    return [Param(n, t, v) for n, (t, v) in sorted(rows.items())]


def _px4() -> list[Param]:
    rows: dict[str, tuple[str, int | float]] = {}
    for prefix, names in _PX4_PREFIXES.items():
        for n in names:
            ptype = (
                "int32"
                if n.endswith(("ACT", "MODE", "EN", "TYPE", "MD", "AUTOSTART", "CONFIG", "GROUP", "COUNT"))
                else _F
            )
            rows[prefix + n] = (ptype, _value(prefix + n, "int16" if ptype == "int32" else ptype, 0))
    for axis in ("ROLL", "PITCH", "YAW"):
        for k in ("P", "I", "D", "FF", "K", "RATE_P", "RATE_I", "RATE_D", "RATE_FF", "RATE_K", "RATE_MAX", "RATE_LIM"):
            rows[f"MC_{axis}{'' if k.startswith('RATE') else '_'}{k}"] = (_F, _value(axis + k, _F, 1))
    for i in range(1, 17):
        for k in ("FUNC", "DIS", "MIN", "MAX", "FAIL"):
            rows[f"PWM_MAIN_{k}{i}"] = ("int32", _value(f"PWM{k}{i}", "int16", i))
    rows = {n: v for n, v in rows.items() if len(n) <= 16}
    i = 0
    while len(rows) < 600:
        i += 1
        for k in ("GATE", "NOISE", "DELAY", "CTRL"):
            rows.setdefault(f"EKF2_X{i}_{k}", (_F, _value(f"EKF2{i}{k}", _F, i)))
    return [Param(n, t, v) for n, (t, v) in sorted(rows.items())]


def default_params(autopilot: str) -> list[Param]:
    """The default parameter set for ``ardupilot`` (about 1,000) or ``px4`` (about 600)."""
    return _px4() if autopilot == "px4" else _ardupilot()


def parse_param_override(spec: str, params: list[Param]) -> list[Param]:
    """Apply ``NAME=VALUE`` to ``params`` (keeping an existing parameter's type).

    Raises:
        ValueError: not ``NAME=VALUE``, or a value that does not fit the type.
    """
    name, sep, text = spec.partition("=")
    if not sep or not name or len(name) > 16:
        raise ValueError(f"--param {spec!r}: expected NAME=VALUE with a name of at most 16 characters")
    old = next((p for p in params if p.name == name), None)
    ptype = old.type if old else ("float32" if any(c in text for c in ".eE") else "int32")
    value: int | float = float(text) if ptype == "float32" else int(text)
    if ptype == "float32":
        import struct

        value = struct.unpack("<f", struct.pack("<f", value))[0]
    rest = [p for p in params if p.name != name]
    return sorted([*rest, Param(name, ptype, value)], key=lambda p: p.name)
