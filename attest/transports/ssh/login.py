"""Logging in: the dock's keys (an identity file or the ssh-agent) and public-key authentication.

Only public keys are offered; passwords and passphrases are never read or
sent. An identity file that group or others can read is refused, as OpenSSH
refuses it.

Hand-written around paramiko's ``PKey.from_path`` and ``Agent``: the mode
and size checks of the identity file (paramiko makes neither), and the
closing of the agent connection once logged in (it signs for the keys it lists).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import paramiko

from attest.errors import ConfigError, TransportError
from attest.transports.ssh.errors import LOST
from attest.transports.ssh.target import SshTarget

__all__ = ["authenticate", "client_keys"]

#: Largest private key file read.
_MAX_KEY_FILE = 64 * 1024


def _load_identity(path: Path) -> paramiko.PKey:
    """Load an unencrypted OpenSSH/PEM private key, refusing one others may read.

    Raises:
        ConfigError: unreadable, readable by group or others, encrypted, or not a key.
    """
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read SSH identity: {e.strerror}") from e
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: SSH private key is accessible by group or others (mode {st.st_mode & 0o777:04o}); chmod 600"
        )
    if st.st_size > _MAX_KEY_FILE:
        raise ConfigError(f"{path}: too large to be an SSH private key")
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException as e:
        raise ConfigError(
            f"{path}: the key is encrypted; load it into ssh-agent and omit --identity (no passphrases are read)"
        ) from e
    except (paramiko.SSHException, ValueError, TypeError, OSError) as e:
        raise ConfigError(f"{path}: not an OpenSSH or PEM private key") from e


def _agent() -> paramiko.Agent:
    """The ssh-agent (close it after authenticating: it signs for the keys it lists).

    Raises:
        ConfigError: no agent, or it holds no key.
    """
    if not os.environ.get("SSH_AUTH_SOCK"):
        raise ConfigError("no SSH identity: give --identity KEYFILE or run an ssh-agent (SSH_AUTH_SOCK is not set)")
    try:
        agent = paramiko.Agent()
        keys = agent.get_keys()
    except (paramiko.SSHException, OSError) as e:
        raise ConfigError(f"cannot use the ssh-agent at SSH_AUTH_SOCK: {e}") from e
    if not keys:
        agent.close()
        raise ConfigError("no SSH identity: the ssh-agent holds no key and no --identity was given")
    return agent


@contextlib.contextmanager
def client_keys(identity: Path | None) -> Iterator[Sequence[paramiko.PKey]]:
    """The keys to offer: ``identity``'s, or else the ssh-agent's (closed again on leaving).

    Raises:
        ConfigError: the identity cannot be used, or there is no agent or it holds no key.
    """
    if identity is not None:
        yield [_load_identity(identity)]
        return
    agent = _agent()
    try:
        yield agent.get_keys()
    finally:
        agent.close()


def authenticate(
    transport: paramiko.Transport, target: SshTarget, keys: Sequence[paramiko.PKey], timeout: float
) -> None:
    """Log in as ``target.user`` with the first of ``keys`` the server accepts.

    Raises:
        TransportError: the server accepts none of them, wants more than a key, or stopped answering.
    """
    for key in keys:
        try:
            more = transport.auth_publickey(target.user, key)
        except paramiko.BadAuthenticationType as e:
            raise TransportError(
                f"{target.label}: the server does not accept public keys (it allows {', '.join(e.allowed_types)})"
            ) from e
        except paramiko.AuthenticationException:
            continue
        except LOST as e:
            raise TransportError(f"{target.label}: authentication failed within {timeout:g} s: {e}") from e
        if more:
            raise TransportError(
                f"{target.label}: the server wants more than a key ({', '.join(more)}); only keys are supported"
            )
        return
    raise TransportError(
        f"{target.label}: the server refused our key ({len(keys)} tried): "
        "is the dock's public key in the user's authorized_keys?"
    )
