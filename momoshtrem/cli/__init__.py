"""The command line: `serve`, and clients of a running server's API."""
