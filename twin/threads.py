"""Run BLAS single-threaded while the twin computes.

The twin's dense algebra is on small blocks (tens of columns); a multi-threaded
BLAS only spins on them, and on a shared machine those spinning threads take
the cores that parallel workers need. Measured on IEEE 8500: the factorization
and first interval take three times the CPU with two BLAS threads than with one.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator

_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


_Getter = Callable[[], int]
_Setter = Callable[[int], object]


def _controls() -> list[tuple[_Getter, _Setter]]:
    """(get, set) functions of every OpenBLAS loaded in this process."""
    found: list[tuple[_Getter, _Setter]] = []
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                getter, setter = getattr(lib, get), getattr(lib, set_)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                found.append((getter, setter))
                break
    return found


def set_blas_threads(n: int) -> list[tuple[_Setter, int]]:
    """Set every loaded OpenBLAS to n threads; return what to restore."""
    controls = _controls()
    saved = [(setter, int(getter())) for getter, setter in controls]
    for _, setter in controls:
        setter(n)
    return saved


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """One BLAS thread inside the block; the previous setting after it."""
    saved = set_blas_threads(1)
    try:
        yield
    finally:
        for setter, n in saved:
            setter(n)
