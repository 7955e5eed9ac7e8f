"""Keep freed memory in an envelope worker's heap instead of giving it back.

An interval allocates and frees arrays of several megabytes many times over.
glibc serves such arrays by mmap and returns them on free, so each new one is
paged in (zeroed) again: on IEEE 8500 (96 intervals, two workers) that was
about 2.5 s of system time per envelope, against under 1 s with the memory kept.
A worker lives for one envelope computation, so it keeps what it freed; the
caller's own process is left as it was.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> None:
    """Serve arrays up to 1 GiB from the heap and never trim it (glibc; elsewhere nothing changes)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BYTES - 1)
