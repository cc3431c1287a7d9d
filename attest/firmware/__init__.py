"""Flight-controller firmware: release files, the bootloader's CRC, the app descriptor, the serial bootloader."""
