"""Builds the optional Cython kernel `dps_core._kernel` from cext/.

The extension is optional: without a compiler the package still installs and runs the NumPy
reference kernel (`dps plugins` says which backend is in use). OpenMP is used where the compiler
accepts -fopenmp. No -ffast-math; -ffp-contract=fast lets the row kernels' AVX-512 and x86-64-v3
builds use fused multiply-add (the baseline build has none and is unchanged by it), so those two give
the same results bit for bit and the baseline equals them to rounding. DPS_NO_EXTENSION=1 skips the build.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
SOURCE = HERE / "cext" / "_kernel.pyx"


def _accepted(flags: list[str], source: str = "int main(void){return 0;}\n") -> list[str]:
    """`flags` if the C compiler builds and links `source` with them, else []."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.c"
        src.write_text(source)
        r = subprocess.run([cc, *flags, str(src), "-o", str(Path(tmp) / "t")], capture_output=True)
        return flags if r.returncode == 0 else []


def _openmp_flag() -> list[str]:
    """['-fopenmp'] if the C compiler builds and links an OpenMP program, else []."""
    return _accepted(["-fopenmp"], "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")


REQUIRED = os.environ.get("DPS_REQUIRE_EXTENSION") == "1"


class OptionalBuildExt(build_ext):
    """Build the kernel if possible; warn and continue with the reference kernel if not
    (DPS_REQUIRE_EXTENSION=1 makes a failed build an error, as the tox `compiled` env wants)."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers...
            if REQUIRED:
                raise
            print(f"WARNING: dps kernel not built ({exc}); the NumPy reference kernel will be used", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            if REQUIRED:
                raise
            print(f"WARNING: dps kernel not built ({exc}); the NumPy reference kernel will be used", file=sys.stderr)


def extensions():
    if os.environ.get("DPS_NO_EXTENSION") == "1" or not SOURCE.exists():
        return []
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension

    omp = _openmp_flag()
    if not omp:
        print("WARNING: the C compiler has no OpenMP; the dps kernel is built single-threaded", file=sys.stderr)
    ext = Extension(
        "dps_core._kernel",
        [str(SOURCE.relative_to(HERE))],
        include_dirs=[numpy.get_include(), str(HERE / "cext")],
        depends=["cext/dps_rows.h", "cext/dps_rows_isa.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # -fno-trapping-math lets loops with comparisons vectorise; it does not change any result.
        # -ffp-contract=fast: a * b + c becomes one FMA where the instruction set has it (cext/dps_rows.h)
        # --param=vect-epilogues-nomask=0: GCC (12) vectorises a loop's remainder with narrower vectors
        # and does not contract those into FMA, so the AVX-512 build's remainders (K mod 8 >= 4)
        # differed from x86-64-v3's by rounding; remainders now run scalar, contracted like the vectors
        extra_compile_args=[
            "-O3",
            "-ffp-contract=fast",
            "-fno-fast-math",
            "-fno-trapping-math",
            "-Wno-psabi",
            *_accepted(["--param=vect-epilogues-nomask=0"]),
            *omp,
        ],
        extra_link_args=omp,
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
