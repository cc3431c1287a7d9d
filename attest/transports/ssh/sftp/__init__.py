"""A pipelined SFTP v3 client: wire format, tree walk, parallel file reads."""
