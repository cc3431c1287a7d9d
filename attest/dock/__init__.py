"""The dock: attest a drone automatically when it docks, sign the event and log it.

Outside this package, import the names below from here, never from the modules.
Modules, one job each (lower ones first):

* :mod:`attest.dock.tomlcheck` -- typed reading of TOML tables, every problem collected; durations
* :mod:`attest.dock.parts`     -- a drone's parts: their kinds, the targets each accepts, reading one
* :mod:`attest.dock.config`    -- ``/etc/attest/attest.toml``: read it, check every key, resolve paths
* :mod:`attest.dock.readiness` -- whether the files a configuration names are usable (``attest config check``)
* :mod:`attest.dock.usb`       -- USB facts (serial number, vendor:product) of a tty or network link, from sysfs
* :mod:`attest.dock.recognition` -- which drone docked, and where each of its parts is now
* :mod:`attest.dock.event`     -- a dock event as one signed in-toto Statement (a log entry), and read back
* :mod:`attest.dock.pending`   -- one event per drone at a time; the marker that blocks while one runs
* :mod:`attest.dock.runner`    -- one event: attest every part within the deadline, sign, log
* :mod:`attest.dock.hooks`     -- programs run after the gate blocks or clears

The gate (:mod:`attest.gate`) sits above: it judges what the dock logged.
"""

from __future__ import annotations

from attest.dock.config import ACTIONS, DEFAULT_CONFIG, DockConfig, DroneConfig, HookConfig, config_path, load_config
from attest.dock.event import (
    ENTRY_KINDS,
    EVENT_PREDICATE_TYPE,
    DockEvent,
    LoggedEvent,
    LoggedPart,
    PartOutcome,
    event_json,
    event_row,
    event_statement,
    peek_drone,
    read_event,
    sign_event,
    worst,
)
from attest.dock.hooks import MAX_HOOK_OUTPUT, HookReport, run_hooks
from attest.dock.parts import PART_KINDS, PartConfig
from attest.dock.pending import EventBusyError, Pending, PendingEvent, drone_lock, read_pending
from attest.dock.readiness import Readiness, check_files
from attest.dock.recognition import Recognised, Trigger, recognise
from attest.dock.runner import Recorded, failed_event, record_event, run_event
from attest.dock.tomlcheck import format_duration, parse_duration
from attest.dock.usb import UsbInfo, find_ttys, net_usb, tty_name, tty_usb

__all__ = [
    "ACTIONS",
    "DEFAULT_CONFIG",
    "ENTRY_KINDS",
    "EVENT_PREDICATE_TYPE",
    "MAX_HOOK_OUTPUT",
    "PART_KINDS",
    "DockConfig",
    "DockEvent",
    "DroneConfig",
    "EventBusyError",
    "HookConfig",
    "HookReport",
    "LoggedEvent",
    "LoggedPart",
    "PartConfig",
    "PartOutcome",
    "Pending",
    "PendingEvent",
    "Readiness",
    "Recognised",
    "Recorded",
    "Trigger",
    "UsbInfo",
    "check_files",
    "config_path",
    "drone_lock",
    "event_json",
    "event_row",
    "event_statement",
    "failed_event",
    "find_ttys",
    "format_duration",
    "load_config",
    "net_usb",
    "parse_duration",
    "peek_drone",
    "read_event",
    "read_pending",
    "recognise",
    "record_event",
    "run_event",
    "run_hooks",
    "sign_event",
    "tty_name",
    "tty_usb",
    "worst",
]
