"""Faults on a real sshd: a killed server, a frozen server, and companions whose tools misbehave.

None of them may end in a pass: each is a TransportError or CollectionError
(exit 3), or a per-component error, and every wait ends within the timeout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from conftest import make_fleet, run_attest
from sshd_fixture import Sshd, process_name, process_state

from attest.collectors.ssh import SshCollector
from attest.errors import CollectionError, TransportError
from attest.transports.ssh import HostKeyPins, SshConnection, SshTarget, load_known_hosts

pytest_plugins = ["sshd_fixture"]  # small_tree

ALL = {"selection": {"include": ["**"], "exclude": []}}


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Collectors log; a test that ran the CLI in-process may have left structlog writing to a closed stream."""
    structlog.reset_defaults()


class OnFirstBytes:
    """A Progress that runs ``action`` once, as soon as the first hashed bytes arrive."""

    def __init__(self, action: Callable[[], object]) -> None:
        self._action = action
        self.fired = False

    def start(self, total: int | None, label: str) -> None:
        del total, label

    def advance(self, n: int) -> None:
        del n
        if not self.fired:
            self.fired = True
            self._action()

    def finish(self) -> None:
        pass


def big_tree(root: Path, size: int = 256 * 1024 * 1024) -> Path:
    """One large sparse file: long enough to interrupt, free on disk."""
    root.mkdir(parents=True)
    with (root / "rootfs.img").open("wb") as f:
        f.truncate(size)
    return root


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with Sshd.running(tmp_path / "sshd") as s:
        yield s


def collector(sshd: Sshd, root: Path, **kw: object) -> SshCollector:
    return SshCollector(
        sshd.target(root),
        identity=sshd.client_key,
        known_hosts=sshd.known_hosts,
        **{"timeout": 5.0, **kw},  # type: ignore[arg-type]
    )


def sftp_server(sshd: Sshd) -> int:
    pids = [p for p in sshd.sessions() if process_name(p) == "sftp-server"]
    assert len(pids) == 1, pids
    return pids[0]


# -- the server dies or freezes mid-transfer ------------------------------------------------------------


def test_sshd_killed_mid_transfer_raises(sshd: Sshd, tmp_path: Path) -> None:
    """Every session process is killed after the first bytes: a TransportError, never evidence."""
    root = big_tree(tmp_path / "root")
    progress = OnFirstBytes(sshd.kill_sessions)
    with pytest.raises(TransportError, match="the connection closed"):
        collector(sshd, root).collect(ALL, nonce="00", progress=progress)
    assert progress.fired


def test_frozen_device_hashing_times_out(sshd: Sshd, tmp_path: Path) -> None:
    """Pull mode's cross-check never answers (its program is stopped): given up after the timeout + 8 MiB at 4 MB/s.

    The device's openssl stops itself before it reads a byte, so the freeze cannot come too late
    (an 8 MiB file hashes in milliseconds: a SIGSTOP sent from the test raced it and sometimes lost).
    """
    root = big_tree(tmp_path / "root", size=8 * 1024 * 1024)
    bin_dir = fake_tools(tmp_path / "fakebin", openssl='kill -STOP $$\nexec /usr/bin/openssl "$@"')
    try:
        with pytest.raises(TransportError, match=r"timed out after 3 s waiting for digests from the device's openssl"):
            with_tools(sshd, root, bin_dir, timeout=1.0).collect(ALL, nonce="00")
        stopped = [p for p in sshd.sessions() if process_state(p) == "T"]
    finally:
        sshd.kill_sessions(signal.SIGCONT)
    assert stopped, "the device's hashing program was never started"


def test_frozen_sftp_server_times_out(sshd: Sshd) -> None:
    """An SFTP request the device never answers ends after the timeout, naming the request."""
    target = SshTarget.parse(sshd.target())
    pins = HostKeyPins(known_hosts=load_known_hosts(sshd.known_hosts, target))
    # The handshake gets a generous bound (a loaded machine is not a frozen device); the SFTP waits get 1 s.
    with SshConnection.open(target, pins=pins, identity=sshd.client_key, timeout=10.0) as conn:
        conn.timeout = 1.0
        sftp = conn.sftp()
        os.kill(sftp_server(sshd), signal.SIGSTOP)
        with pytest.raises(TransportError, match=r"timed out after 1 s waiting for the SFTP reply to STAT of '/'"):
            sftp.stat(b"/")


def test_sshd_killed_mid_transfer_is_exit_3(sshd: Sshd, tmp_path: Path) -> None:
    """The CLI, a real signed baseline and a kill while the device is sending: exit 3, never 0."""
    fleet = make_fleet(tmp_path / "fleet")
    root = tmp_path / "root"
    root.mkdir()
    (root / "rootfs.img").write_bytes(b"small at baseline time")
    env = {"ATTEST_STATE_DIR": str(tmp_path / "state")}
    baseline = tmp_path / "b.json"
    r = run_attest(
        ["baseline", "create", "--device", sshd.target(root), "--name", "n", "--version", "1", "--out", baseline,
         *sshd.transport_args()],
        env=env,
    )  # fmt: skip
    assert r.code == 0, r.err
    assert run_attest(["baseline", "sign", baseline, "--key", fleet.keys[0]], env=env).code == 0
    (root / "rootfs.img").unlink()
    big_tree(root / "x")
    (root / "x/rootfs.img").rename(root / "rootfs.img")

    killed: list[int] = []

    def killer() -> None:
        # Kill as soon as the device has read a few MiB of the 256 MiB image.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            for pid in sshd.sessions():
                if process_name(pid) not in ("cat", "sftp-server"):
                    continue
                try:
                    io = Path(f"/proc/{pid}/io").read_text()
                except OSError:
                    continue
                if int(io.split("rchar:")[1].split()[0]) > 4 * 1024 * 1024:
                    killed.extend(sshd.kill_sessions())
                    return
            time.sleep(0.002)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        r = run_attest(
            ["verify", "--device", sshd.target(root), "--baseline", baseline, "--trust", fleet.trust, "--json",
             *sshd.transport_args()],
            env=env,
        )  # fmt: skip
    finally:
        thread.join()
    assert killed, "the transfer ended before the device could be killed"
    assert r.code == 3, r.out + r.err
    assert r.json()["verdict"] == "error"


# -- a companion whose tools misbehave ---------------------------------------------------------------------------
#
# The dock runs the device's programs by absolute path from its tool directories, never through PATH; these
# companions have a replaced program there (SshCollector(tool_dirs=...) puts the fake directory first).


def fake_tools(bin_dir: Path, **scripts: str | None) -> Path:
    """A tool directory with the real xargs and cat, and each of ``scripts`` as a shell script (``None``: absent)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for real in ("xargs", "cat"):
        if real not in scripts:
            (bin_dir / real).symlink_to(f"/usr/bin/{real}")
    for name, body in scripts.items():
        if body is None:
            continue
        script = bin_dir / name
        script.write_text("#!/bin/sh\n" + body + "\n")
        script.chmod(0o755)
    return bin_dir


def with_tools(sshd: Sshd, root: Path, bin_dir: Path, *, only: bool = False, **kw: object) -> SshCollector:
    """A collector that looks in ``bin_dir`` first (``only``: nowhere else) for the device's programs."""
    dirs = (os.fsencode(bin_dir),) if only else (os.fsencode(bin_dir), b"/usr/bin", b"/bin")
    return collector(sshd, root, tool_dirs=dirs, **kw)


SKIP_TO_NAMES = 'while [ "$1" != "--" ]; do shift; done; shift'


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ("printf 'not a digest\\0'", CollectionError, "printed 'not a digest'"),
        (
            SKIP_TO_NAMES + '\nfor f in "$@"; do printf "%064d  %s" 0 "$f"; done',
            CollectionError,
            "cut off",
        ),
        (
            SKIP_TO_NAMES + '\nprintf "%064d  %s\\0" 0 /etc/shadow',
            CollectionError,
            "reported '/etc/shadow', which was not asked for",
        ),
        ("/bin/sleep 30", TransportError, "timed out after 1 s waiting for digests from the device's sha256sum"),
    ],
    ids=["garbage", "no-final-nul", "unrequested-path", "hangs"],
)
@pytest.mark.parametrize("method", ["remote", "pull"])
def test_misbehaving_sha256sum_fails_closed(  # noqa: PLR0917 (pytest parameters)
    tmp_path: Path, small_tree: Path, body: str, error: type[Exception], match: str, method: str
) -> None:
    """Whatever the device's sha256sum prints or does, both methods raise (pull mode cross-checks with it)."""
    bin_dir = fake_tools(tmp_path / "fakebin", sha256sum=body)
    # Only the hanging tool needs a short timeout; the others fail on what they print, whatever the timeout.
    timeout = 1.0 if "sleep" in body else 5.0
    with Sshd.running(tmp_path / "sshd") as sshd, pytest.raises(error, match=match):
        with_tools(sshd, small_tree, bin_dir, method=method, timeout=timeout).collect(ALL, nonce="00")


@pytest.mark.parametrize(
    "body", [None, "echo 'sha256sum: unrecognized option: z' >&2; exit 1"], ids=["missing", "busybox"]
)
def test_without_gnu_sha256sum_remote_mode_refuses_and_pull_mode_checks_with_cat(
    tmp_path: Path, small_tree: Path, body: str | None
) -> None:
    """No usable sha256sum: remote mode is exit 3 naming pull mode; pull mode cross-checks every file with cat."""
    bin_dir = fake_tools(tmp_path / "fakebin", sha256sum=body)
    with Sshd.running(tmp_path / "sshd") as sshd:
        with pytest.raises(CollectionError, match="use --method pull"):
            with_tools(sshd, small_tree, bin_dir, only=True, method="remote").collect(ALL, nonce="00")
        ev = with_tools(sshd, small_tree, bin_dir, only=True, method="pull").collect(ALL, nonce="00")
    assert all(c.error is None for c in ev.components.values())
    assert ev.notes["cross_check"]["by"] == "the device's cat stream"
    assert ev.notes["cross_check"]["files"] == 2
    assert not ev.findings


@pytest.mark.parametrize("method", ["remote", "pull"])
def test_files_the_device_does_not_hash_are_errors(tmp_path: Path, small_tree: Path, method: str) -> None:
    """A device that silently skips a file does not get it counted as measured, nor as cross-checked."""
    body = SKIP_TO_NAMES + '\nfor f in "$@"; do case "$f" in *px4) ;; *) /usr/bin/sha256sum -z -- "$f";; esac; done'
    bin_dir = fake_tools(tmp_path / "fakebin", sha256sum=body)
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = with_tools(sshd, small_tree, bin_dir, method=method, audit_sample=0).collect(ALL, nonce="00")
    px4 = ev.components["usr/bin/px4"]
    assert px4.digest is None
    assert px4.error is not None
    assert "could not hash it" in px4.error
    assert ev.components["etc/px4.conf"].digest is not None


@pytest.mark.parametrize(
    "body",
    [
        "exit 1",
        'shift; for f in "$@"; do /bin/cat -- "$f"; done; printf x',
        'shift; for f in "$@"; do /bin/cat -- "$f" | /usr/bin/head -c 3; done',
    ],
    ids=["fails", "too-long", "too-short"],
)
def test_a_cat_stream_that_does_not_add_up_checks_nothing(tmp_path: Path, small_tree: Path, body: str) -> None:
    """On a device without GNU sha256sum, a cat stream that is not exactly as listed leaves every file an error."""
    bin_dir = fake_tools(tmp_path / "fakebin", sha256sum="exit 1", cat=body)
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = with_tools(sshd, small_tree, bin_dir).collect(ALL, nonce="00")
    errors = {name: c.error for name, c in ev.components.items() if c.kind == "file"}
    assert errors.keys() == {"usr/bin/px4", "etc/px4.conf"}
    assert all(e is not None and e.startswith("cannot cross-check") for e in errors.values()), errors
    assert not ev.findings


@pytest.mark.parametrize("liar", ["sha256sum", "cat"])
def test_a_lying_tool_is_caught_on_every_file(tmp_path: Path, small_tree: Path, liar: str) -> None:
    """A replaced sha256sum or cat that serves a modified file's approved bytes disagrees with SFTP: device_lied."""
    golden = tmp_path / "golden"
    shutil.copytree(small_tree, golden)
    px4 = small_tree / "usr/bin/px4"
    px4.write_bytes(px4.read_bytes().upper())  # same length, other bytes
    # The approved copy of every file of the tree; anything else (the /dev/null probe) as it is.
    approved = f'case "$f" in {small_tree}/*) g="{golden}${{f#{small_tree}}}";; *) g="$f";; esac'
    scripts = {
        "sha256sum": {
            "sha256sum": SKIP_TO_NAMES + f'\nfor f in "$@"; do {approved}; /usr/bin/sha256sum -z -- "$g" | '
            '/usr/bin/head -c 64; printf "  %s\\0" "$f"; done'
        },
        "cat": {"sha256sum": "exit 1", "cat": f'shift; for f in "$@"; do {approved}; /bin/cat -- "$g"; done'},
    }[liar]
    bin_dir = fake_tools(tmp_path / "fakebin", **scripts)
    with Sshd.running(tmp_path / "sshd") as sshd:
        ev = with_tools(sshd, small_tree, bin_dir).collect(ALL, nonce="00")
    assert [(f.component, f.kind.value, f.severity.value) for f in ev.findings] == [
        ("usr/bin/px4", "device_lied", "critical")
    ]
    assert ev.components["usr/bin/px4"].digest == hashlib.sha256(px4.read_bytes()).hexdigest()
    assert ev.components["usr/bin/px4"].method.value == "dock-read"
    assert ev.notes["cross_check"]["disagreements"] == ["usr/bin/px4"]
