"""Every build of the row kernels computes the same numbers: compiled with contraction into fused
multiply-add off, the build for each instruction set this CPU runs, the portable build (what other
compilers and CPUs get) and the build without vector extensions give identical outputs for every
row function, at widths that run every block size and tail (tests/rows_harness.c prints them).
The extension's own builds (with fused multiply-add) are checked against the reference in
test_kernel.py; these are the builds no machine of the project's runs otherwise. Built as the
extension is (contraction on), the instruction sets said to give the same results print the same
rows too."""

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


@pytest.mark.parametrize("K", [7, 12, 75])
def test_instruction_sets_with_the_same_results_print_the_same_rows_built_as_the_extension_is(tmp_path, K):
    """With setup.py's flags (a * b + c contracted into FMA, loop remainders not vectorised: GCC 12
    did not contract the narrower vectors it gave them), AVX-512 and x86-64-v3 compute every row
    function alike, remainders included (K mod 8 = 7, 4 and 3)."""
    from dps_core.backend import same_results

    exe = tmp_path / "contracted"
    flags = ["-O3", "-ffp-contract=fast", "-fno-trapping-math", "-Wno-psabi", "--param=vect-epilogues-nomask=0"]
    cmd = [_compiler(), *flags, f"-I{REPO / 'cext'}", str(HARNESS), "-o", str(exe), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    isas = _isas(exe)
    pairs = [(a, b) for i, a in enumerate(isas) for b in isas[i + 1 :] if same_results(a, b)]
    if not pairs:
        pytest.skip(f"this CPU runs no two instruction sets with the same results ({', '.join(isas)})")
    rows = {isa: subprocess.run([exe, str(K), isa], check=True, capture_output=True, text=True).stdout for isa in isas}
    for a, b in pairs:
        assert len(rows[a].splitlines()) == 23
        for x, y in zip(rows[a].splitlines(), rows[b].splitlines(), strict=True):
            assert x == y, f"{a} and {b} differ: {x.split()[0]}"


@pytest.mark.parametrize(
    "build", [["-march=native", "-ffp-contract=fast"], ["-ffp-contract=off"]], ids=["this CPU's FMA", "no FMA"]
)
def test_the_kernels_exponential_sine_and_cosine_are_within_a_few_ulp_of_the_exact_values(tmp_path, build):
    """dps_exp and dps_sincos against long double expl, sinl and cosl (tests/math_accuracy.c).
    Measured: exp within 1.20 ulp with fused multiply-add and 1.36 without (glibc's exp: 0.51);
    sin and cos within 1.47 and 1.51 ulp over [0, 2 pi) and |x| <= 1e5. Checked at 1.5 ulp for exp
    and 2 for sin and cos. At the ends: exp(0) = 1, exp(-708) and exp(709) normal numbers, 0 below,
    infinity above, NaN kept."""
    exe = tmp_path / "math"
    flags = ["-O2", *build, "-Wno-psabi", f"-I{REPO / 'cext'}"]
    subprocess.run([_compiler(), *flags, str(REPO / "tests" / "math_accuracy.c"), "-o", str(exe), "-lm"], check=True)
    run = subprocess.run([exe], check=True, capture_output=True, text=True)
    out = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    if int(out["mantissa_bits"]) < 64:
        pytest.skip("long double is no wider than double here: expl, sinl and cosl are no exact reference")
    assert float(out["max_ulp"].split()[0]) <= 1.5, out["max_ulp"]
    assert float(out["sincos_max_ulp"].split()[0]) <= 2.0, out["sincos_max_ulp"]
    one, low, high, below, above, nan = (float(v) for v in out["ends"].split())
    assert one == 1.0 and 3.3e-308 < low < 3.31e-308 and 8.21e307 < high < 8.22e307  # e^-708, e^709
    assert below == 0.0 and above == float("inf") and nan != nan
