"""The flight-controller collector: MAVLink identity, parameters, FTP files and flash."""
