"""Keeps freed memory in the process instead of returning it to the kernel after every use.

glibc's malloc serves a large block (a perception model's decoder activations are 10-90 MB) with a fresh
`mmap` and unmaps it on free, so iterative inference that allocates the same buffers at every refinement step
pays a page fault per 4 KB each time: a third of the demo's CPU time went to the kernel. Raising the mmap
and trim thresholds makes such blocks come from, and go back to, the heap. The values computed are unchanged
(tests/perception/test_precision.py compares a slot extraction with and without).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {  # parameter: (environment variable glibc reads at process start, bytes)
    M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", 1 << 30),
    M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", 1 << 30),
    M_TOP_PAD: ("MALLOC_TOP_PAD_", 256 << 20),
}
OPT_OUT = "ODR_DEFAULT_MALLOC"  # set to 1 to keep the C library's defaults


def keep_freed_memory() -> bool:
    """Applies SETTINGS in this process (where glibc is the C library) and exports them for the processes it
    starts; a setting the user already exported is left alone. Returns whether anything was applied."""
    if os.environ.get(OPT_OUT) == "1":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = False
    for param, (env, value) in SETTINGS.items():
        if env in os.environ:
            continue
        applied = bool(mallopt(param, value)) or applied
        os.environ[env] = str(value)
    return applied
