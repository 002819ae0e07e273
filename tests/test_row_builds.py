"""Every build of the row kernels computes the same numbers: compiled with contraction into fused
multiply-add off, the build for each instruction set this CPU runs, the portable build (what other
compilers and CPUs get) and the build without vector extensions give identical outputs for every
row function, at widths that run every block size and tail (tests/rows_harness.c prints them).
The extension's own builds (with fused multiply-add) are checked against the reference in
test_kernel.py; these are the builds no machine of the project's runs otherwise."""

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.nokernel  # C builds of their own: the installed kernel backend plays no part

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "rows_harness.c"
BUILDS = {
    "dispatch": [],
    "portable": ["-DDPS_PORTABLE"],
    "portable, no vectors": ["-DDPS_PORTABLE", "-DDPS_NO_VECTORS"],
}


def _compiler() -> str:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    found = shutil.which(cc) or shutil.which("cc") or shutil.which("gcc")
    if found is None:
        pytest.skip("no C compiler on this machine (the extension could not have been built either)")
    return found


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory):
    cc, out = _compiler(), tmp_path_factory.mktemp("rows")
    exes = {}
    for name, flags in BUILDS.items():
        exe = out / name.replace(", ", "-").replace(" ", "-")
        cmd = [
            cc,
            "-O2",
            "-ffp-contract=off",
            "-Wno-psabi",
            *flags,
            f"-I{REPO / 'cext'}",
            str(HARNESS),
            "-o",
            str(exe),
            "-lm",
        ]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        exes[name] = exe
    return exes


def _isas(exe) -> list[str]:
    """The instruction sets the dispatching build runs on this CPU (the harness refuses the others)."""
    names = ["avx512f", "x86-64-v3", "avx2", "x86-64 baseline", "portable C (no clones)"]
    return [isa for isa in names if subprocess.run([exe, "8", isa], capture_output=True).returncode == 0]


@pytest.mark.parametrize("K", [7, 16, 75])
def test_every_build_of_the_row_kernels_computes_the_same_numbers(harnesses, K):
    outputs = {}
    for name, exe in harnesses.items():
        for isa in _isas(exe) if name == "dispatch" else [""]:
            run = subprocess.run([exe, str(K), *([isa] if isa else [])], check=True, capture_output=True, text=True)
            outputs[f"{name} {isa}".strip()] = run.stdout
    assert len(outputs) >= 3  # at least one instruction set of the dispatching build, and the two portable ones
    first = next(iter(outputs))
    lines = outputs[first].splitlines()
    assert len(lines) == 23 and all(len(line.split()) > 1 for line in lines)
    assert "nan" not in outputs[first].lower()
    for name, text in outputs.items():
        for a, b in zip(lines, text.splitlines(), strict=True):
            assert a == b, f"{name} differs from {first}: {a.split()[0]}"
