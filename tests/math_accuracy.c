/* Measures the kernel's own exponential, sine and cosine (cext/dps_rows.h) against long double
 * expl, sinl and cosl: prints the largest error in units in the last place of the result over
 * millions of points, then what dps_exp gives at and beyond the ends of its range.
 * tests/test_row_builds.py compiles and runs it. */
#include "dps_rows.h"
#include <float.h>
#include <stdio.h>

static uint64_t state = 88172645463325252ULL;
static double uniform(void) { /* xorshift64 */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

/* |got - exact| in units of the last place of exact rounded to double */
static double ulps(double got, long double exact) {
    double near = fabs((double)exact);
    return (double)(fabsl((long double)got - exact) / (long double)(nextafter(near, INFINITY) - near));
}

int main(void) {
    double worst = 0.0, at = 0.0;
    for (int i = 0; i < 4000000; i++) { /* the whole range, and arguments of a row's scale */
        double x = i % 2 ? -708.0 + 1417.0 * uniform() : -20.0 + 40.0 * uniform();
        double e = ulps(dps_exp_in_range(x), expl((long double)x));
        if (e > worst) worst = e, at = x;
    }
    printf("mantissa_bits %d\n", LDBL_MANT_DIG);
    printf("max_ulp %.4f at %.17g\n", worst, at);
    worst = 0.0;
    for (int i = 0; i < 4000000; i++) { /* von Mises centres: [0, 2 pi), and far beyond */
        double x = i % 4 ? 6.283185307179586 * uniform() : -1e5 + 2e5 * uniform(), s, c;
        dps_sincos(x, &s, &c);
        double e = fmax(ulps(s, sinl((long double)x)), ulps(c, cosl((long double)x)));
        if (e > worst) worst = e, at = x;
    }
    printf("sincos_max_ulp %.4f at %.17g\n", worst, at);
    printf("ends %.17g %.17g %.17g %.17g %.17g %.17g\n", dps_exp(0.0), dps_exp(-708.0), dps_exp(709.0),
           dps_exp(-708.5), dps_exp(710.0), dps_exp(NAN));
    return 0;
}
