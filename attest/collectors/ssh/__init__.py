"""The companion-computer collector over SSH: listing, pull and remote hashing, the audit."""
