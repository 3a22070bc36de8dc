"""Keeping the server's memory flat under many threads.

glibc gives each thread that contends for malloc an arena of its own (up to 8
per core) and keeps what is freed in it: after a listing load over 64 worker
threads the server held 600-700 MiB it no longer used. Two arenas serve
cheroot's workers as fast here (they mostly wait on sockets and pieces), and
what one render frees, the next reuses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(count: int = 2) -> bool:
    """True when glibc took the limit; other C libraries (musl, macOS) are left as they are."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):
        log.debug("mallopt is not available: malloc arenas are not limited")
        return False
