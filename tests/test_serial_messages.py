"""Serial errors say each thing once: pyserial's own prefixes are not repeated after ours (issue 10, item 4)."""

from __future__ import annotations

import os
import pty
from pathlib import Path

import pytest

from attest.errors import TransportError
from attest.transports.serialport import SerialTransport


def test_a_missing_port_is_named_once(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyNOPE")
    with pytest.raises(TransportError) as info:
        SerialTransport.open(missing, timeout=1)
    text = str(info.value)
    assert text.startswith(f"{missing}: cannot open port: ")
    assert "could not open port" not in text and "[Errno" not in text
    assert "No such file or directory" in text


def test_a_read_error_is_named_once() -> None:
    controller, device = pty.openpty()
    path = os.ttyname(device)
    transport = SerialTransport.open(path, timeout=1)
    try:
        os.close(controller)  # the other end goes away: reads fail with EIO
        os.close(device)

        def read_until_failure() -> None:
            for _ in range(5):
                transport.read(0.2)

        with pytest.raises(TransportError) as info:
            read_until_failure()
        text = str(info.value)
        assert text.count("read failed") == 1, text
        assert "[Errno" not in text
    finally:
        transport.close()
