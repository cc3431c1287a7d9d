"""Terminal escapes in device-controlled text never reach the terminal raw (issue 9, item 9)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from conftest import Run

from attest.report import printable

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


def test_printable_escapes_controls_and_format_characters() -> None:
    assert printable("usr/bin/px4") == "usr/bin/px4"
    assert printable("a\x1b[1A\x1b[2Kb") == "a\\x1b[1A\\x1b[2Kb"
    assert printable("tab\there\nnl\x7f\x85") == "tab\\x09here\\x0anl\\x7f\\x85"
    assert printable("rtl\u202eevil\u200b") == "rtl\\u202eevil\\u200b"
    assert printable("née") == "née"
    assert printable("lone\ud800") == "lone\\ud800"  # would otherwise fail to encode on print
    # Injective: a literal backslash-x in a name does not print like an escaped control.
    assert printable("\\x1b") != printable("\x1b")


def test_a_hostile_file_name_cannot_erase_the_drift_headline(attest: Callable[..., Run], tmp_path: Path) -> None:
    tree = tmp_path / "companion"
    assert attest("sim", "tree", "--out", tree).code == 0
    hostile = b"opt/flightapp/\x1b[1A\x1b[2K\x1b]0;PASS\x07ok.py"
    with open(os.fsencode(tree) + b"/" + hostile, "wb") as f:
        f.write(b"planted")
    args = ["verify", "--device", tree, "--baseline", BASELINES / "companion.baseline.json"]
    args += ["--trust", BASELINES / "trust.toml"]
    human = attest(*args)
    assert human.code == 1
    assert human.out.startswith("DRIFT: ")
    assert "\x1b" not in human.out and "\x07" not in human.out
    assert "\\x1b[1A" in human.out
    as_json = attest(*args, "--json")
    names = [f["component"] for f in json.loads(as_json.out)["findings"]]
    assert any("\x1b[1A" in n for n in names)  # JSON carries the exact name; json escapes it on the wire
    assert "\x1b" not in as_json.out
