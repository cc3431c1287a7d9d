"""The ``ssh://USER@HOST[:PORT][/PATH]`` target: parsed once, named the same way everywhere.

Hand-written on :func:`urllib.parse.urlsplit` rather than taken from an SSH
config parser: a target is one string on the command line, and a password
typed into it must be refused and kept out of every message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from attest.errors import ConfigError

__all__ = ["SshTarget"]


@dataclass(frozen=True)
class SshTarget:
    """A parsed ``ssh://USER@HOST[:PORT][/PATH]`` target.

    Attributes:
        user: the login user.
        host: host name or address (IPv6 without brackets).
        port: TCP port.
        root: the directory on the device whose tree is measured (bytes, absolute).
    """

    user: str
    host: str
    port: int = 22
    root: bytes = b"/"

    @classmethod
    def parse(cls, target: str) -> SshTarget:
        """Parse a target string.

        Raises:
            ConfigError: not of the form ``ssh://USER@HOST[:PORT][/PATH]``, or it holds a password.
        """
        expected = "expected ssh://USER@HOST[:PORT][/PATH]"
        # A password typed into the target must not reach the terminal or the log.
        shown = repr(re.sub(r"^([^/]*//[^/@:]*):[^/@]*@", r"\1:***@", target))
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError as e:
            raise ConfigError(f"{shown}: {expected} ({e})") from e
        if parts.password is not None:
            raise ConfigError(f"{shown}: passwords are not accepted; log in with a key (--identity or ssh-agent)")
        if parts.scheme != "ssh" or not parts.hostname or not parts.username:
            raise ConfigError(f"{shown}: {expected}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{shown}: {expected} (no '?' or '#' parts)")
        root = unquote_to_bytes(parts.path) if parts.path else b"/"
        if b"\0" in root:
            raise ConfigError(f"{shown}: the path holds a NUL byte")
        return cls(user=parts.username, host=parts.hostname, port=port or 22, root=root)

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def label(self) -> str:
        """``user@host:port``, for messages and the log."""
        return f"{self.user}@{self.host}:{self.port}"
