"""Target strings: every kind named the way results name it; unknown schemes are usage errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Fleet, Run

from attest.errors import ConfigError
from attest.targets import target_kind

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("ssh://attest@10.0.0.2", "ssh"),
        ("SSH://attest@10.0.0.2:2222/srv", "ssh"),
        ("socket://127.0.0.1:5760", "serial"),
        ("/dev/ttyACM0", "serial"),
        ("/dev/pts/3", "serial"),
        ("/dev/serial/by-id/usb-ArduPilot_fmuv3-if00", "serial"),
        ("./rootfs", "directory"),
        ("/mnt/sd card", "directory"),
        ("dir:with:colons", "directory"),
        ("adb://R5CT1234ABC", "adb"),
        ("adb+tcp://1.2.3.4:5555", "adb"),
        ("dji:///dev/ttyACM0", "dji"),
    ],
)
def test_kinds(target: str, kind: str) -> None:
    assert target_kind(target) == kind


@pytest.mark.parametrize("target", ["http://drone.local/", "ftp://x", "rtsp://1.2.3.4:554", ""])
def test_unsupported_schemes_are_usage_errors(target: str) -> None:
    with pytest.raises(ConfigError):
        target_kind(target)


def test_verify_with_an_unsupported_scheme_is_exit_2(attest: Callable[..., Run], fleet: Fleet) -> None:
    r = attest("verify", "--device", "http://drone.local/", "--baseline", BASELINES / "companion.baseline.json",
               "--trust", fleet.trust, "--json")  # fmt: skip
    assert r.code == 2 and r.out == ""
    assert "unsupported target scheme http://" in r.err
    errors = [line for line in r.err.strip().splitlines() if "cannot rotate" not in line]  # plain TOML warning
    assert len(errors) == 1


def test_an_unreachable_device_is_named_by_its_collector_kind(attest: Callable[..., Run], tmp_path: Path) -> None:
    """Errors and untrusted results carry the kind a pass would (mavlink), never the transport (serial)."""
    r = attest("verify", "--device", "socket://127.0.0.1:9", "--baseline", BASELINES / "fc.baseline.json",
               "--trust", BASELINES / "trust.toml", "--json", "--timeout", "1",
               "--state-dir", tmp_path / "state")  # fmt: skip
    assert r.code == 3, r.out + r.err
    assert r.json()["device"]["kind"] == "mavlink"
    (tmp_path / "garbage.json").write_text("{}")
    untrusted = attest("verify", "--device", "socket://127.0.0.1:9", "--baseline", tmp_path / "garbage.json",
                       "--trust", BASELINES / "trust.toml", "--json", "--state-dir", tmp_path / "state")  # fmt: skip
    assert untrusted.code == 4
    assert untrusted.json()["device"]["kind"] == "mavlink"
