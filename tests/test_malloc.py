"""keep_freed_memory: a large array freed and allocated again is not faulted in again; the setting
reaches child processes, leaves the user's own settings alone and can be turned off. Each case runs
in a fresh interpreter, since the setting is process-wide."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc (Linux)")

_PROBE = """
import json, os, resource, sys
import numpy as np
from dps_core import keep_freed_memory
done = keep_freed_memory() if sys.argv[1] == "keep" else False
a = np.ones((1000, 8192))  # 64 MiB: above glibc's default 32 MiB limit for reusing freed blocks
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones((1000, 8192))
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"done": done, "faults": faults, "env": os.environ.get("MALLOC_MMAP_THRESHOLD_")}))
"""


def _probe(mode: str, **env) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "DPS_KEEP_FREED_MEMORY"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env={**full, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_freed_memory_is_reused_without_page_faults():
    default, kept = _probe("default"), _probe("keep")
    # 64 MiB is 16,384 pages of 4 KiB (or 32 huge pages of 2 MiB, with transparent huge pages)
    assert default["faults"] >= 32 and not default["env"]
    assert kept["done"] and kept["faults"] < 8 and kept["env"] == str(2**31 - 1)  # children inherit it


def test_the_users_setting_and_the_off_switch_are_respected():
    off = _probe("keep", DPS_KEEP_FREED_MEMORY="0")
    assert not off["done"] and off["faults"] >= 32 and off["env"] is None
    mine = _probe("keep", MALLOC_MMAP_THRESHOLD_="1000", MALLOC_TRIM_THRESHOLD_="1000")
    assert not mine["done"] and mine["env"] == "1000"
