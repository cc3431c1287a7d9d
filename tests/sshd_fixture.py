"""A real OpenSSH sshd on 127.0.0.1 for the SSH tests and bench/bench_ssh.py.

:class:`Sshd` runs ``/usr/sbin/sshd -D -e -f CONFIG`` as the current user on a
free port, with a freshly generated host key and an ``authorized_keys`` file
holding a freshly generated client key, and owns the process: it starts it,
waits until it speaks SSH, and kills it and every session it forked. Nothing
is mocked: the dock talks to the same sshd and sftp-server a Debian-based
companion computer runs. The "companion's filesystem" is any directory the
test names in the target (``ssh://USER@127.0.0.1:PORT/that/dir``). Sessions get
``SHLVL=1`` so the login shell skips the developer's ``~/.bashrc``, plus any
environment a test asks for (a PATH with a lying tool first).

When sshd or ssh-keygen is missing, :func:`require_openssh` skips the test
with the Debian package to install (``make test`` installs it as root).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

import pytest

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"

#: How long sshd may take to start listening.
START_TIMEOUT = 10.0


def require_openssh() -> None:
    """Skip the calling test when the OpenSSH server or client tools are missing."""
    if not os.access(SSHD, os.X_OK):
        pytest.skip("needs the Debian package openssh-server (make test installs it as root)")
    if not os.access(SSH_KEYGEN, os.X_OK):
        pytest.skip("needs the Debian package openssh-client (make test installs it as root)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """Generate an unencrypted OpenSSH key pair at ``path`` (and ``path.pub``)."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", f"attest-test-{path.name}", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (sshd forks one process tree per connection)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: ppid follows the last ')'.
        parents[int(entry)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        frontier += kids
    return out


def process_name(pid: int) -> str:
    """The command name of ``pid`` ('' if it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def process_state(pid: int) -> str:
    """The state letter of ``pid`` in /proc ('T': stopped; '' if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name in parentheses may hold spaces; the state follows its closing parenthesis.
    return stat[stat.rindex(")") + 2 :][:1]


class Sshd:
    """One sshd instance; use :meth:`running` as a context manager.

    Attributes:
        dir: where its config, keys, pid file and log live.
        port: the TCP port on 127.0.0.1.
        user: the login user (the current user).
        host_key: the private host key file.
        client_key: the private key the dock logs in with (``--identity``).
        known_hosts: a known_hosts file pinning the current host key.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        extra_config: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        sftp_server: str | None = None,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = keygen(self.dir / "host_ed25519")
        self.client_key = keygen(self.dir / "client_ed25519")
        self.known_hosts = self.dir / "known_hosts"
        self.log = self.dir / "sshd.log"
        self.extra_config = list(extra_config)
        self.env = dict(env or {})
        self.sftp_server = sftp_server
        (self.dir / "authorized_keys").write_bytes(Path(f"{self.client_key}.pub").read_bytes())
        self._write_known_hosts()
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def running(
        cls,
        workdir: Path,
        *,
        extra_config: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        sftp_server: str | None = None,
    ) -> Iterator[Sshd]:
        """Start an sshd in ``workdir``; stop it and its sessions on exit, whatever happened.

        Args:
            workdir: a fresh directory for its files.
            extra_config: more sshd_config lines.
            env: environment variables of every session (e.g. a PATH with a fake tool first).
            sftp_server: the SFTP subsystem command (default: OpenSSH's sftp-server), e.g. a wrapper that lies.
        """
        require_openssh()
        sshd = cls(workdir, extra_config=extra_config, env=env, sftp_server=sftp_server)
        try:
            sshd.start()
            yield sshd
        finally:
            sshd.stop()

    def target(self, root: os.PathLike[str] | str = "") -> str:
        """The ``ssh://`` target measuring the directory ``root`` on this sshd ('' = /)."""
        path = os.fspath(root)
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def transport_args(self) -> list[str]:
        """``--identity`` and ``--known-hosts`` for the attest CLI."""
        return ["--identity", str(self.client_key), "--known-hosts", str(self.known_hosts)]

    def _write_known_hosts(self) -> None:
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {blob}\n")

    def _config(self) -> str:
        sftp = self.sftp_server or (SFTP_SERVER if os.access(SFTP_SERVER, os.X_OK) else "internal-sftp")
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            # The test directories belong to whoever runs the tests; root in CI.
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "MaxStartups 50",
            "LogLevel VERBOSE",
            f"Subsystem sftp {sftp}",
            # Only sshd's first SetEnv line counts. SHLVL=1 keeps bash from reading the
            # test user's ~/.bashrc for ssh commands (it does so only below shell level 2),
            # so sessions neither depend on nor pay for the developer's shell setup.
            "SetEnv " + " ".join(f"{k}={v}" for k, v in {"SHLVL": "1", **self.env}.items()),
            *self.extra_config,
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start sshd and wait until it sends its SSH banner.

        Raises:
            RuntimeError: it did not start within :data:`START_TIMEOUT` (its log is in the message).
        """
        if os.geteuid() == 0:
            # sshd's privilege separation needs this directory; containers often lack it.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.dir / "sshd_config"
        config.write_text(self._config())
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(8).startswith(b"SSH-"):
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not start on port {self.port}:\n{self.log.read_text(errors='replace')}")

    @property
    def pid(self) -> int:
        """The pid of the listening sshd."""
        if self._proc is None:
            raise RuntimeError("sshd is not running")
        return self._proc.pid

    def sessions(self) -> list[int]:
        """Pids of every process sshd forked for a connection (sshd children, sftp-server, commands)."""
        return _children(self.pid) if self._proc is not None else []

    def kill_sessions(self, sig: int = signal.SIGKILL) -> list[int]:
        """Send ``sig`` to every session process; returns their pids."""
        pids = self.sessions()
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        return pids

    def stop(self) -> None:
        """Kill every session, then sshd; idempotent."""
        if self._proc is None:
            return
        self.kill_sessions(signal.SIGKILL)
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    def restart(self, *, new_host_key: bool = False, env: Mapping[str, str] | None = None) -> None:
        """Stop, optionally swap the host key (without updating :attr:`known_hosts`) or the environment, restart."""
        self.stop()
        if new_host_key:
            for p in (self.host_key, Path(f"{self.host_key}.pub")):
                p.unlink()
            keygen(self.host_key)
        if env is not None:
            self.env = dict(env)
        self.start()

    def log_text(self) -> str:
        """Everything sshd logged so far."""
        return self.log.read_text(errors="replace")


#: File names that break naive remote commands: spaces, quotes, a newline, command
#: substitution, a leading dash, a backslash and bytes that are not UTF-8.
HOSTILE_NAMES = (
    b"with space",
    b"quote'and\"double",
    b"new\nline",
    b"$(touch PWNED)",
    b"`touch PWNED2`; touch PWNED3",
    b"-rf",
    b"--help",
    b"back\\slash",
    b"latin1-\xe9t\xe9",
    b"\xff\xfe",
)


def hostile_tree(root: Path) -> Path:
    """A small companion filesystem: firmware, config, hostile names, symlinks, a FIFO, an empty file."""
    (root / "usr/bin").mkdir(parents=True)
    px4 = root / "usr/bin/px4"
    px4.write_bytes(bytes(range(256)) * 5000 + b"end")  # spans several SFTP reads
    px4.chmod(0o755)
    (root / "etc/modalai").mkdir(parents=True)
    (root / "etc/modalai/voxl-px4.conf").write_text("SENSOR_CAL=factory\n")
    (root / "etc/empty").write_bytes(b"")
    odd = os.fsencode(root / "data/odd")
    os.makedirs(odd)
    for i, name in enumerate(HOSTILE_NAMES):
        with open(os.path.join(odd, name), "wb") as f:
            f.write(name * (i + 1))
    os.symlink("px4", root / "usr/bin/autopilot")
    os.symlink("/nonexistent/target", root / "usr/bin/dangling")
    os.symlink(b"\xff-target", os.path.join(odd, b"link-to-\xff"))
    os.mkfifo(root / "data/fifo")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/boot.log").write_text("noise")
    return root


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """Two files of a companion (firmware and its config): enough for a device program's faults."""
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/px4").write_bytes(b"px4 firmware")
    (root / "etc").mkdir()
    (root / "etc/px4.conf").write_text("SYS_AUTOSTART=4001\n")
    return root


def lying_sha256sum(bin_dir: Path, *, real_tree: Path, approved_tree: Path) -> Path:
    """Install a ``sha256sum`` that reports the digests of ``approved_tree`` for files of ``real_tree``.

    This is a compromised companion hiding a modified file: it answers
    ``sha256sum -z -- FILE...`` with the approved file's digest (paths outside
    ``real_tree`` as they are). Put ``bin_dir`` first in the session's PATH
    (``SetEnv PATH=...``: the dock must never run it) or first in the
    collector's ``tool_dirs`` (a replaced program).
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "sha256sum"
    script.write_text(
        "#!/bin/sh\n"
        "# A compromised companion: report the approved digest of every file, whatever is on disk.\n"
        'while [ "$1" != "--" ]; do shift; done; shift\n'
        'for f in "$@"; do\n'
        f'  case "$f" in {real_tree}/*) g="{approved_tree}${{f#{real_tree}}}";; *) g="$f";; esac\n'
        '  h=$(/usr/bin/sha256sum < "$g") || exit 1\n'
        '  printf \'%s  %s\\0\' "${h%% *}" "$f"\n'
        "done\n"
    )
    script.chmod(0o755)
    return script


class StallingPeer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word (a hung device)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = int(self._sock.getsockname()[1])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
