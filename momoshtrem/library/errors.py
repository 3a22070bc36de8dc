"""Errors the library raises; the API maps each to its HTTP status."""


class LibraryError(Exception):
    """Base: the message is safe and useful to show to the user."""

    status = 400

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class InvalidInput(LibraryError):
    status = 400


class NotFound(LibraryError):
    status = 404


class Conflict(LibraryError):
    status = 409


class Unavailable(LibraryError):
    """A service the request needs is not there (TMDB without a key, the torrent engine)."""

    status = 503
    retry_after = 30  # seconds, for the share's Retry-After


class Busy(Unavailable):
    """Too many requests already wait on swarms or on the internet: a client should come back in a moment, not queue."""

    retry_after = 5

