"""MAVLink 2 for the dock and the simulator: framing, link, FTP, parameters, identity.

Message definitions (CRC_EXTRA, field layouts, packing) come from pymavlink's
generated ``common`` dialect. Framing, FTP and parameter handling are written
here by hand because the dock needs properties pymavlink's helpers do not
promise: every wait bounded, resynchronisation one byte after a bad frame,
MAVLink 1 and foreign-system traffic ignored, and every partial read an error.
"""
