"""How the `dps` command's processes treat freed memory (glibc only).

By default glibc returns every freed block above 32 MiB to the system, so each new large NumPy
array (an N x K temporary of a metric, a reference step or an archive write) is faulted in again,
page by page. `keep_freed_memory` asks glibc to keep blocks up to 2 GiB for reuse instead; at
N = 10^5 agents it takes about 30 % off a reference step and off the generic example's metrics
(docs/performance.md, "Freed memory"), and the peak resident memory barely moves. The `dps`
command calls it; a program that embeds dps decides for itself, as it does for logging.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters (malloc.h) and the environment variables glibc reads at start-up for them
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP = 2**31 - 1  # the largest value mallopt takes (a C int)
_ENV = {"MALLOC_MMAP_THRESHOLD_": _M_MMAP_THRESHOLD, "MALLOC_TRIM_THRESHOLD_": _M_TRIM_THRESHOLD}


def keep_freed_memory(children: bool = True) -> bool:
    """Keep freed blocks of up to 2 GiB for reuse in this process and, with `children`, in the
    processes it starts afterwards (through glibc's environment variables). A setting the user made
    in the environment is left alone, and `DPS_KEEP_FREED_MEMORY=0` turns the whole thing off.
    Returns whether anything was set (False off Linux/glibc)."""
    if os.environ.get("DPS_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = False
    for name, param in _ENV.items():
        if name in os.environ:
            continue
        done = bool(mallopt(param, _KEEP)) or done
        if children:
            os.environ[name] = str(_KEEP)
    return done
