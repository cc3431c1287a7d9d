"""SSH to a companion computer: target, pinned host keys, login, command streams, SFTP."""
