"""Transports: bytes to and from a device (serial ports, pyserial URLs, SSH)."""
