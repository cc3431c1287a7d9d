"""The simulated flight controller's default parameters: about 1,000, with real names.

Generated, not copied: groups of ArduCopter-style (or PX4-style) names and
plausible values, the same on every run, so the demo baseline matches any
machine. Safety settings used in examples (FENCE_ENABLE, FS_THR_ENABLE,
RTL_ALT ...) have their usual values; the parameters a controller changes by
itself (STAT_* counters, BARO*_GND_PRESS, COMPASS_DEC, SRn_* stream rates;
PX4's COM_FLIGHT_UUID, LND_FLIGHT_T_*, SYS_RESTART_TYPE, EKF2_MAG_DECL) exist,
so ``attest sim fc --volatile`` can move them (:mod:`attest.sim.fc_volatile`).
"""

from __future__ import annotations

from attest.mavlink import Param

__all__ = ["default_params", "parse_param_override"]

_F = "float32"
_TYPES = {"b": "int8", "h": "int16", "i": "int32", "f": _F}

# NAME:TYPE:VALUE (b int8, h int16, i int32, f float32), as ArduCopter declares them.
_ARDU_FIXED = """
    FORMAT_VERSION:h:120 SYSID_THISMAV:h:1 SYSID_MYGCS:h:255 FRAME_CLASS:b:1 FRAME_TYPE:b:1 ARMING_CHECK:i:1
    ARMING_RUDDER:b:2 FENCE_ENABLE:b:1 FENCE_TYPE:b:7 FENCE_ACTION:b:1 FENCE_ALT_MAX:f:120.0
    FENCE_RADIUS:f:500.0 FENCE_MARGIN:f:2.0 FS_THR_ENABLE:b:1 FS_THR_VALUE:h:975 FS_GCS_ENABLE:b:1
    FS_EKF_ACTION:b:1 FS_EKF_THRESH:f:0.8 FS_CRASH_CHECK:b:1 FS_OPTIONS:i:16 RTL_ALT:h:1500 RTL_ALT_FINAL:h:0
    RTL_SPEED:h:0 RTL_LOIT_TIME:i:5000 LAND_SPEED:h:50 PILOT_SPEED_UP:h:250 LOG_BITMASK:i:176126
    LOG_BACKEND_TYPE:b:1 SCR_ENABLE:b:1 SCR_HEAP_SIZE:i:204800 SCR_VM_I_COUNT:i:10000 SCR_DEBUG_OPTS:b:0
    BRD_SAFETY_DEFLT:b:1 BRD_OPTIONS:i:0 BRD_BOOT_DELAY:h:0 STAT_BOOTCNT:h:412 STAT_FLTTIME:i:918273
    STAT_RUNTIME:i:3456789 STAT_RESET:i:1700000000 GPS_TYPE:b:1 GPS_AUTO_CONFIG:b:1 AHRS_EKF_TYPE:b:3
    MOT_PWM_MIN:h:1000 MOT_PWM_MAX:h:2000 MOT_SPIN_ARM:f:0.1 MOT_SPIN_MIN:f:0.15 MOT_THST_HOVER:f:0.35
    BATT_MONITOR:b:4 BATT_CAPACITY:i:5200 BATT_LOW_VOLT:f:14.4 BATT_CRT_VOLT:f:13.8 BATT_FS_LOW_ACT:b:2
    BATT_FS_CRT_ACT:b:1 BARO1_GND_PRESS:f:101180.5 BARO2_GND_PRESS:f:101176.25 BARO_GND_TEMP:f:0.0
"""

# PREFIX COUNT SUFFIX:TYPE... -> PREFIX<i>SUFFIX for i in 1..COUNT ("-": no suffix).
_ARDU_GROUPS = """
    SERVO 16 _MIN:h _MAX:h _TRIM:h _REVERSED:b _FUNCTION:h
    RC 16 _MIN:h _MAX:h _TRIM:h _REVERSED:b _DZ:h _OPTION:h
    SERIAL 8 _BAUD:i _PROTOCOL:b _OPTIONS:h
    FLTMODE 6 -:b
    BATT 9 _MONITOR:b _VOLT_PIN:b _CURR_PIN:b _VOLT_MULT:f _AMP_PERVLT:f _CAPACITY:i _LOW_VOLT:f _CRT_VOLT:f
    + _FS_LOW_ACT:b _OPTIONS:i
    COMPASS_OFS 3 _X:f _Y:f _Z:f
    COMPASS_DIA 3 _X:f _Y:f _Z:f
    COMPASS_ODI 3 _X:f _Y:f _Z:f
    COMPASS_DEV_ID 8 -:i
    INS_ACC 3 OFFS_X:f OFFS_Y:f OFFS_Z:f SCAL_X:f SCAL_Y:f SCAL_Z:f _ID:i
    INS_GYR 3 OFFS_X:f OFFS_Y:f OFFS_Z:f _ID:i _CALTEMP:f
    RNGFND 10 _TYPE:b _PIN:b _SCALING:f _OFFSET:f _MIN_CM:h _MAX_CM:h _ORIENT:b _ADDR:b
    CAN_D 2 _PROTOCOL:b _UC_NODE:b _UC_OPTION:h _UC_ESC_BM:i _UC_SRV_BM:i
    CAN_P 2 _DRIVER:b _BITRATE:i _FDBITRATE:b
    RELAY 6 _FUNCTION:b _PIN:b _DEFAULT:b
    SCR_USER 6 -:f
    PRX 2 _TYPE:b _ORIENT:b _YAW_CORR:h _IGN_ANG1:h _IGN_WID1:b
"""

# PREFIX NAME... (a line starting with "+" continues the previous prefix).
_ARDU_BLOCKS = """
    ATC_ RAT_RLL_P RAT_RLL_I RAT_RLL_D RAT_RLL_FF RAT_RLL_IMAX RAT_RLL_FLTT RAT_RLL_FLTD RAT_RLL_FLTE
    + RAT_RLL_SMAX RAT_RLL_PDMX RAT_RLL_D_FF RAT_RLL_NTF RAT_RLL_NEF RAT_PIT_P RAT_PIT_I RAT_PIT_D RAT_PIT_FF
    + RAT_PIT_IMAX RAT_PIT_FLTT RAT_PIT_FLTD RAT_PIT_FLTE RAT_PIT_SMAX RAT_PIT_PDMX RAT_PIT_D_FF RAT_PIT_NTF
    + RAT_PIT_NEF RAT_YAW_P RAT_YAW_I RAT_YAW_D RAT_YAW_FF RAT_YAW_IMAX RAT_YAW_FLTT RAT_YAW_FLTD RAT_YAW_FLTE
    + RAT_YAW_SMAX RAT_YAW_PDMX RAT_YAW_D_FF RAT_YAW_NTF RAT_YAW_NEF ANG_RLL_P ANG_PIT_P ANG_YAW_P ACCEL_R_MAX
    + ACCEL_P_MAX ACCEL_Y_MAX SLEW_YAW THR_MIX_MIN THR_MIX_MAX THR_MIX_MAN INPUT_TC RATE_FF_ENAB ANGLE_BOOST
    + ANG_LIM_TC RATE_R_MAX RATE_P_MAX RATE_Y_MAX
    PSC_ POSXY_P POSXY_I POSXY_D POSXY_IMAX POSXY_FLTE POSXY_FLTD POSXY_FF POSXY_FLTT POSXY_SMAX POSXY_D_FF
    + POSXY_NTF POSXY_NEF POSXY_PDMX VELXY_P VELXY_I VELXY_D VELXY_IMAX VELXY_FLTE VELXY_FLTD VELXY_FF VELXY_FLTT
    + VELXY_SMAX VELXY_D_FF VELXY_NTF VELXY_NEF VELXY_PDMX POSZ_P POSZ_I POSZ_D POSZ_IMAX POSZ_FLTE POSZ_FLTD
    + POSZ_FF POSZ_FLTT POSZ_SMAX POSZ_D_FF POSZ_NTF POSZ_NEF POSZ_PDMX VELZ_P VELZ_I VELZ_D VELZ_IMAX VELZ_FLTE
    + VELZ_FLTD VELZ_FF VELZ_FLTT VELZ_SMAX VELZ_D_FF VELZ_NTF VELZ_NEF VELZ_PDMX ACCZ_P ACCZ_I ACCZ_D ACCZ_IMAX
    + ACCZ_FLTE ACCZ_FLTD ACCZ_FF ACCZ_FLTT ACCZ_SMAX ACCZ_D_FF ACCZ_NTF ACCZ_NEF ACCZ_PDMX ANGLE_MAX JERK_XY
    + JERK_Z
    EK3_ SRC1_POSXY SRC1_VELXY SRC1_POSZ SRC1_VELZ SRC1_YAW SRC2_POSXY SRC2_VELXY SRC2_POSZ SRC2_VELZ SRC2_YAW
    + SRC3_POSXY SRC3_VELXY SRC3_POSZ SRC3_VELZ SRC3_YAW ENABLE IMU_MASK GPS_CHECK ALT_M_NSE VELNE_M_NSE
    + VELD_M_NSE POSNE_M_NSE GYRO_P_NSE ACC_P_NSE GBIAS_P_NSE ABIAS_P_NSE WIND_P_NSE WIND_PSCALE MAG_CAL
    + MAG_M_NSE MAG_I_GATE YAW_M_NSE YAW_I_GATE EAS_M_NSE EAS_I_GATE RNG_M_NSE RNG_I_GATE MAX_FLOW FLOW_M_NSE
    + FLOW_I_GATE FLOW_DELAY TAU_OUTPUT HGT_DELAY HGT_I_GATE POS_I_GATE VEL_I_GATE BCN_M_NSE BCN_DELAY BCN_I_GTE
    + RNG_USE_HGT RNG_USE_SPD TERR_GRAD ACC_BIAS_LIM MAGB_P_NSE MAGE_P_NSE BETA_MASK OGN_HGT_MASK VIS_VERR_MIN
    + VIS_VERR_MAX WENC_VERR FLOW_USE HRT_FILT GND_EFF_DZ PRIMARY LOG_LEVEL GPS_VACC_MAX AFFINITY DRAG_BCOEF_X
    + DRAG_BCOEF_Y DRAG_M_NSE DRAG_MCOEF OGNM_TEST_SF CHECK_SCALE ERR_THRESH OPTIONS
    WPNAV_ SPEED RADIUS SPEED_UP SPEED_DN ACCEL ACCEL_Z RFND_USE JERK TER_MARGIN ACCEL_C
    LOIT_ SPEED ANG_MAX ACC_MAX BRK_ACCEL BRK_JERK BRK_DELAY OPTIONS
    GPS_ TYPE2 NAVFILTER AUTO_SWITCH MIN_DGPS SBAS_MODE MIN_ELEV INJECT_TO SBP_LOGMASK RAW_DATA GNSS_MODE
    + SAVE_CFG GNSS_MODE2 RATE_MS RATE_MS2 POS1_X POS1_Y POS1_Z POS2_X POS2_Y POS2_Z DELAY_MS DELAY_MS2
    + BLEND_MASK DRV_OPTIONS COM_PORT COM_PORT2 PRIMARY CAN_NODEID1 CAN_NODEID2 MB1_TYPE MB2_TYPE HDOP_GOOD
    INS_ GYRO_FILTER ACCEL_FILTER USE USE2 USE3 STILL_THRESH GYR_CAL TRIM_OPTION ACC_BODYFIX POS1_X POS1_Y
    + POS1_Z POS2_X POS2_Y POS2_Z FAST_SAMPLE ENABLE_MASK GYRO_RATE LOG_BAT_CNT LOG_BAT_MASK LOG_BAT_OPT
    + LOG_BAT_LGIN LOG_BAT_LGCT HNTCH_ENABLE HNTCH_FREQ HNTCH_BW HNTCH_ATT HNTCH_HMNCS HNTCH_REF HNTCH_MODE
    + HNTCH_OPTS HNTC2_ENABLE TCAL_OPTIONS
    COMPASS_ ENABLE USE USE2 USE3 AUTODEC LEARN ORIENT ORIENT2 ORIENT3 EXTERNAL EXTERN2 EXTERN3 MOTCT DEC
    + OFFS_MAX TYPEMASK FLTR_RNG AUTO_ROT PRIO1_ID PRIO2_ID PRIO3_ID OPTIONS SCALE SCALE2 SCALE3 DISBLMSK
    + CUS_ROLL CUS_PIT CUS_YAW PMOT_EN CAL_FIT
    MOT_ SPIN_MAX BAT_VOLT_MAX BAT_VOLT_MIN BAT_CURR_MAX BAT_IDX THST_EXPO YAW_HEADROOM BOOST_SCALE
    + SLEW_UP_TIME SLEW_DN_TIME SAFE_TIME SAFE_DISARM OPTIONS PWM_TYPE SPOOL_TIME SPOOL_TIM_DN HOVER_LEARN
    + YAW_SV_ANGLE THST_HOVER_TC
    AVOID_ ENABLE ANGLE_MAX DIST_MAX MARGIN BEHAVE BACKUP_SPD ALT_MIN ACCEL_MAX BACKUP_DZ
    LOG_ DISARMED REPLAY FILE_BUFSIZE FILE_DSRMROT MAV_BUFSIZE FILE_TIMEOUT FILE_MB_FREE FILE_RATEMAX
    + MAV_RATEMAX BLK_RATEMAX DARM_RATEMAX MAX_FILES
    OSD_ TYPE CHAN SW_METHOD OPTIONS FONT V_OFFSET H_OFFSET W_RSSI W_NSAT W_BATVOLT W_AVGCELLV W_RESTVOLT
    + W_BATREM W_CURRENT W_TERALT CELL_COUNT UNITS MSG_TIME
"""

_PX4_BLOCKS = """
    COM_ ARM_WO_GPS DISARM_LAND DISARM_PRFLT DL_LOSS_T RC_LOSS_T RCL_EXCEPT LOW_BAT_ACT OBL_RC_ACT POSCTL_NAVL
    + ARM_CHK_ESCS PREARM_MODE FLT_PROFILE HOME_EN KILL_DISARM LKDOWN_TKO ARM_IMU_ACC ARM_IMU_GYR ARM_MAG_ANG
    + ARM_EKF_POS ARM_EKF_VEL
    NAV_ DLL_ACT RCL_ACT ACC_RAD FW_ALT_RAD LOITER_RAD TRAFF_AVOID MIN_LTR_ALT MC_ALT_RAD FORCE_VT
    GF_ ACTION ALTMODE SOURCE COUNT MAX_HOR_DIST MAX_VER_DIST PREDICT
    RTL_ RETURN_ALT DESCEND_ALT LAND_DELAY MIN_DIST TYPE CONE_ANG PLD_MD LOITER_RAD HDG_MD TIME_FACTOR
    SYS_ AUTOSTART AUTOCONFIG HAS_GPS HAS_MAG HAS_BARO MC_EST_GROUP USE_IO BL_UPDATE CAL_ACCEL CAL_GYRO
    + CAL_BARO CAL_TDEL CAL_TMAX CAL_TMIN FAC_CAL_MODE FAILURE_EN HITL RESTART_TYPE STCK_EN
"""


_STREAMS = ("RAW_SENS", "EXT_STAT", "RC_CHAN", "RAW_CTRL", "POSITION", "EXTRA1", "EXTRA2", "EXTRA3", "PARAMS", "ADSB")


def _table(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    last = ""
    for line in text.strip().splitlines():
        words = line.split()
        if words[0] == "+":
            out[last] += words[1:]
        else:
            last = words[0]
            out[last] = words[1:]
    return out


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
    rows: dict[str, tuple[str, int | float]] = {}
    for item in _ARDU_FIXED.split():
        name, code, text = item.split(":")
        rows[name] = (_TYPES[code], float(text) if code == "f" else int(text))
    for prefix, (count, *specs) in _table(_ARDU_GROUPS).items():
        for i in range(1, int(count) + 1):
            for spec in specs:
                suffix, code = spec.split(":")
                suffix, ptype = suffix.strip("-"), _TYPES[code]
                name = (
                    f"{prefix}{i}{suffix}"
                    if prefix not in ("INS_ACC", "INS_GYR")
                    else f"{prefix}{'' if i == 1 else i}{suffix}"
                )
                rows.setdefault(name, (ptype, _value(name, ptype, i)))
    for prefix, names in _table(_ARDU_BLOCKS).items():
        for n in names:
            ptype = "float32" if not n.endswith(("ENABLE", "TYPE", "MASK", "OPTIONS", "USE", "ID")) else "int16"
            rows.setdefault(prefix + n, (ptype, _value(prefix + n, ptype, 0)))
    for i in range(7):  # stream rates
        for k in _STREAMS:
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
    for prefix, names in _table(_PX4_BLOCKS).items():
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
    # What PX4 changes by itself (flights, disarming): ``--volatile`` moves these.
    rows |= {
        "COM_FLIGHT_UUID": ("int32", 37),
        "LND_FLIGHT_T_HI": ("int32", 0),
        "LND_FLIGHT_T_LO": ("int32", 123456789),
        "EKF2_MAG_DECL": (_F, 11.5),
    }
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
