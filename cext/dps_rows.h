/* Row kernels of the compiled step: one agent's (or one node's) K-vector at a time.
 *
 * Plain C over raw pointers (restrict where rows cannot overlap), so that the compiler
 * vectorises the loops over tasks; _kernel.pyx runs them inside `prange` over agents.
 * Every loop runs in a fixed order: results do not depend on the number of threads.
 *
 * The row functions that run per entry (dps_rows_isa.h) are compiled once per instruction set:
 * AVX-512, x86-64-v3 (AVX2 with FMA) and the x86-64 baseline, each with vectors of the width its
 * registers hold; dps_select_isa picks the best one the CPU has when the module loads (as NumPy
 * does), or the one asked for. The build contracts a * b + c into fused multiply-add
 * (-ffp-contract=fast) where the instruction set has it: AVX-512 and x86-64-v3 compute the same
 * operations and give the same results (loop remainders included: setup.py keeps GCC from giving
 * them narrower vectors, which it did not contract); the baseline has no FMA and agrees with them
 * to rounding.
 * Each is deterministic, and every reduction runs in the order written here, so results do not
 * depend on the thread count. */
#ifndef DPS_ROWS_H
#define DPS_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* The revision of the row kernels' arithmetic, raised by every change that alters any result, even
 * by rounding: archives record it, and a run resumes bit for bit only on the revision that stepped
 * it. 1: dps 0.1.0's first kernels; 2: the table-driven exponential, the kernel's own sin and cos. */
#define DPS_ARITHMETIC 2

#define DPS_TINY 1e-300
#define DPS_TWO_PI 6.283185307179586

/* Non-temporal stores are weakly ordered: a pass that uses them calls dps_sfence before its
 * results are read by another thread (the end of the parallel region). */
/* helpers are always inlined into the row functions, so that they are compiled for the row
 * function's instruction set (an out-of-line copy would run the baseline one) */
#if defined(__GNUC__)
#define DPS_INLINE static inline __attribute__((always_inline))
#else
#define DPS_INLINE static inline
#endif

/* ask for a row's cache lines ahead of their use (rows streamed from memory in agent order) */
DPS_INLINE void dps_prefetch_row(const double *p, int K) {
#if defined(__GNUC__)
    for (int k = 0; k < K; k += 8) __builtin_prefetch(p + k);
#else
    (void)p;
    (void)K;
#endif
}

DPS_INLINE void dps_sfence(void) {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

/* max that keeps NaN once seen (a NaN change must reach the engine's finiteness check) */
DPS_INLINE double dps_nanmax(double m, double d) { return (m != m || d <= m) ? m : d; }

/* exp(x) within 1.2 ulp (measured against long double expl; glibc's is within 0.51), written
 * without branches or library calls so that loops of it vectorise. x = (16 m + j) ln2/16 + r with
 * |r| <= ln2/32 (n = 16 m + j the integer nearest to 16 x / ln2), so exp(x) = 2^m 2^(j/16) exp(r):
 * 2^(j/16) from a table of 16, 2^m added to its exponent bits, exp(r) - 1 by a polynomial of
 * degree 6 in Estrin's scheme (short dependency chains, so that a row's exponentials overlap in the
 * pipeline); the result T + T (exp(r) - 1) is rounded once. Ten multiplications or fused
 * multiply-adds, where a degree-13 polynomial over |r| <= ln2/2 took nineteen: rows of
 * exponentials are bound by them.
 * dps_exp_in_range is right only for -708 <= x <= 709 (or NaN); dps_exp clamps x to that range
 * first and then flushes results below exp(-708) to 0 and above to infinity. Inside the range the
 * two compute the same operations, so rows whose arguments are known to lie there take the first
 * (fewer operations per entry) with the same results bit for bit. dps_rows_isa.h computes the
 * same operations on whole vectors (dps_exp_vn). */
#define DPS_EXP_K16 23.083120654223414            /* 16 / ln2 */
#define DPS_EXP_LN2_HI 4.33216987730702385306e-02 /* ln2/16 to 32 bits: n * DPS_EXP_LN2_HI is exact */
#define DPS_EXP_LN2_LO 1.19263433079411731251e-11 /* ln2/16 - DPS_EXP_LN2_HI */
#define DPS_EXP_SHIFTER 6755399441055744.0       /* 1.5 * 2^52: adding it rounds to an integer */

/* the bits of 2^(j/16) (each the nearest double) minus j << 48: the bits of t = n + shifter
 * shifted left by 48 are (m << 52) + (j << 48), so entry j plus them is 2^m 2^(j/16) */
static const uint64_t dps_exp_bits[16] = {
    0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b, 0x3fef387a6e756238,
    0x3fef06fe0a31b715, 0x3feedea64c123422, 0x3feebfdad5362a27, 0x3feeab07dd485429,
    0x3feea09e667f3bcd, 0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
    0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487, 0x3fefa4afa2a490da};

/* exp(r) - 1 for |r| <= ln2/32, for doubles or vectors of them: r + r^2 g(r), g of degree 4 from
 * Chebyshev interpolation of (exp(r) - 1 - r) / r^2 on |r| <= 1.0001 ln2/32 (mpmath.chebyfit), its
 * error with these rounded coefficients below 3e-17 (Taylor's degree 6 would leave 4.4e-16) */
#define DPS_EXPM1_SMALL(r, r2)                                                                    \
    ((r) + (r2) * ((0.5 + (r) * 0.16666666665301144) +                                            \
                   (r2) * ((0.041666666664959766 + (r) * 0.008333449724528355) + (r2) * 0.0013889034377693012)))

DPS_INLINE double dps_exp_in_range(double x) {
    double t = x * DPS_EXP_K16 + DPS_EXP_SHIFTER;
    double n = t - DPS_EXP_SHIFTER;
    double r = (x - n * DPS_EXP_LN2_HI) - n * DPS_EXP_LN2_LO;
    double r2 = r * r, em1 = DPS_EXPM1_SMALL(r, r2);
    uint64_t tb, bits;
    memcpy(&tb, &t, 8);
    bits = dps_exp_bits[tb & 15] + (tb << 48);
    double T;
    memcpy(&T, &bits, 8);
    return T + T * em1;
}

/* sin x and cos x within 1.5 ulp (measured against long double sinl, cosl) for |x| <= 1e5 (von
 * Mises centres, kept in [0, 2 pi)), without the C library, whose results may differ between
 * machines in the last bit (and its sincos took 22 ns per agent, 8 % of a von Mises step).
 * x = q pi/2 + r with |r| <= pi/4 (pi/2 in two parts, the first to 33 bits so that q * DPS_PIO2_HI
 * is exact), then the Taylor polynomials of sin r to r^17 and cos r to r^16 (truncation below
 * 1e-19) in Estrin's scheme, and the quadrant q mod 4. Beyond 1e5 (or NaN, infinity) the C
 * library's. Called outside the per-instruction-set row functions: the same operations, and
 * results, on every instruction set. */
#define DPS_2_OVER_PI 0.63661977236758138
#define DPS_PIO2_HI 1.57079632673412561417e+00 /* pi/2 to 33 bits */
#define DPS_PIO2_LO 6.07710050650619224932e-11 /* pi/2 - DPS_PIO2_HI */

/* t, the reduced sine sr and cosine cr of x, of type T: double, or a GCC vector of doubles (the
 * same operations lane by lane, so the same values) */
#define DPS_SINCOS_REDUCED(T, x, t, sr, cr)                                                             \
    T t = x * DPS_2_OVER_PI + DPS_EXP_SHIFTER;                                                          \
    T q_ = t - DPS_EXP_SHIFTER;                                                                         \
    T r_ = (x - q_ * DPS_PIO2_HI) - q_ * DPS_PIO2_LO;                                                   \
    T z_ = r_ * r_;                                                                                     \
    T z2_ = z_ * z_, z4_ = z2_ * z2_; /* Estrin's scheme: chains of 4 operations instead of 8 */        \
    T ps_ = ((-1.0 / 6.0 + z_ * (1.0 / 120.0)) + z2_ * (-1.0 / 5040.0 + z_ * (1.0 / 362880.0))) +       \
            z4_ * ((-1.0 / 39916800.0 + z_ * (1.0 / 6227020800.0)) +                                    \
                   z2_ * (-1.0 / 1307674368000.0 + z_ * (1.0 / 355687428096000.0)));                    \
    T pc_ = ((1.0 / 24.0 + z_ * (-1.0 / 720.0)) + z2_ * (1.0 / 40320.0 + z_ * (-1.0 / 3628800.0))) +    \
            z4_ * ((1.0 / 479001600.0 + z_ * (-1.0 / 87178291200.0)) + z2_ * (1.0 / 20922789888000.0)); \
    T hz_ = 0.5 * z_, w_ = 1.0 - hz_; /* (1 - w) - hz: the rounding error of w, added back */           \
    T sr = r_ + r_ * z_ * ps_, cr = w_ + (((1.0 - w_) - hz_) + z2_ * pc_)

/* the quadrant's (sin, cos) are (sr, cr), (cr, -sr), (-sr, -cr), (-cr, sr), the quadrant in t's low
 * bits (q's, two's complement): chosen by masks and signs flipped by bits, not by a branch on the
 * quadrant (random, so mispredicted 3 times in 4) */
DPS_INLINE void dps_quadrant(double t, double sr, double cr, double *s, double *c) {
    uint64_t tb, bs, bc;
    memcpy(&tb, &t, 8);
    memcpy(&bs, &sr, 8);
    memcpy(&bc, &cr, 8);
    uint64_t odd = 0 - (tb & 1), s_bits = (bs & ~odd) | (bc & odd), c_bits = (bc & ~odd) | (bs & odd);
    s_bits ^= (tb & 2) << 62;
    c_bits ^= ((tb + 1) & 2) << 62;
    memcpy(s, &s_bits, 8);
    memcpy(c, &c_bits, 8);
}

DPS_INLINE void dps_sincos(double x, double *s, double *c) {
    if (!(fabs(x) <= 1e5)) {
        *s = sin(x);
        *c = cos(x);
        return;
    }
    DPS_SINCOS_REDUCED(double, x, t, sr, cr);
    dps_quadrant(t, sr, cr, s, c);
}

/* dps_sincos of two centres, cos and sin into cs0[0], cs0[1] and cs1[0], cs1[1]: in one vector of two
 * where the compiler has GCC's vectors (half the operations of two calls; the same values) */
DPS_INLINE void dps_sincos2(double x0, double x1, double *cs0, double *cs1) {
#if defined(__GNUC__)
    if (fabs(x0) <= 1e5 && fabs(x1) <= 1e5) {
        typedef double dps_d2 __attribute__((vector_size(16)));
        dps_d2 x = {x0, x1};
        DPS_SINCOS_REDUCED(dps_d2, x, t, sr, cr);
        dps_quadrant(t[0], sr[0], cr[0], cs0 + 1, cs0);
        dps_quadrant(t[1], sr[1], cr[1], cs1 + 1, cs1);
        return;
    }
#endif
    dps_sincos(x0, cs0 + 1, cs0);
    dps_sincos(x1, cs1 + 1, cs1);
}

DPS_INLINE double dps_exp(double x) {
    double xc = x < -708.0 ? -708.0 : x;
    xc = xc > 709.0 ? 709.0 : xc;
    double out = dps_exp_in_range(xc);
    out = x < -708.0 ? 0.0 : out;
    out = x > 709.782712893384 ? INFINITY : out;
    return out;
}

/* Reductions over a row with DPS_LANES = 16 independent accumulators (lane j takes the entries
 * k = j mod 16), combined in a fixed tree: they are not bound by the latency of one long chain of
 * additions, and the order of every addition is fixed in the source, so results do not depend on
 * the thread count (with FMA, a product added to a lane is rounded once instead of twice). With
 * GCC/Clang the lanes are two 8-double vectors (vector extensions: one AVX-512 register, two AVX2
 * ones or four SSE2 ones, the same IEEE operations on each); other compilers run the same
 * arithmetic as plain loops. */
#define DPS_LANES 16

/* The fixed order in which 8 lanes are combined, written once for every reduction that needs it
 * (sums by DPS_PLUS, maxima and minima): OP(x, y) combines two values, LANE(j) is lane j. */
#define DPS_FOLD8(OP, LANE)                                                                        \
    OP(OP(OP(LANE(0), LANE(4)), OP(LANE(2), LANE(6))), OP(OP(LANE(1), LANE(5)), OP(LANE(3), LANE(7))))
#define DPS_PLUS(x, y) ((x) + (y))

DPS_INLINE double dps_tree(const double *s) {
    double a[8];
    for (int j = 0; j < 8; j++) a[j] = s[j] + s[j + 8];
#define DPS_A(j) a[j]
    return DPS_FOLD8(DPS_PLUS, DPS_A);
#undef DPS_A
}


/* Rows of X addressed through a window of a tile's rows held in a ring buffer (the fused pass):
 * row j sits at its position j + shift in the window [0, span) (j + shift taken cyclically modulo
 * n into it; shift = W - the tile's first row, span = the tile's rows + 2 W), in slot
 * (j + shift) mod (mask + 1). NULL: X itself, row j at X + j K. */
typedef struct {
    const double *base;
    int64_t shift, span, n, mask;
} dps_ring;

/* p, as a value the compiler cannot see through: loads at p + constant then address from p in one
 * register, where GCC would otherwise hoist each constant offset (plus k0) into a register of its own */
DPS_INLINE const double *dps_opaque(const double *p) {
#if defined(__GNUC__)
    __asm__("" : "+r"(p));
#endif
    return p;
}

DPS_INLINE const double *dps_row(const double *X, const dps_ring *rg, int64_t j, int K) {
    if (!rg) return X + j * K;
    int64_t p = j + rg->shift;
    if ((uint64_t)p >= (uint64_t)rg->span) p += p < 0 ? rg->n : -rg->n; /* one test for both ends */
    return rg->base + (p & rg->mask) * K;
}

DPS_INLINE double dps_wrap(double v) {
    if (v >= 0.0 && v < DPS_TWO_PI) return v; /* fmod's result, without the call (1 % of a von Mises step) */
    double r = fmod(v, DPS_TWO_PI);
    return r < 0 ? r + DPS_TWO_PI : r;
}

/* The von Mises centre and concentration step from the row sums s_* = sum_k S_k (cos x_k, sin x_k),
 * t_* = sum_k T_k (cos x_k, sin x_k) and the angle addition formulas (cm, sm: cos mu, sin mu): sum_k S_k
 * sin(x_k - mu) = cm s_sx - sm s_cx, and so on. Writes mu/kappa, returns the largest change. */
DPS_INLINE double dps_vonmises_move(double mu, double kappa, double cm, double sm, double s_cx, double s_sx,
                                    double t_cx, double t_sx, double tsum, double step, double step_k,
                                    const double *xi, double ns, double kmin, double kmax, double *mu_out,
                                    double *kappa_out) {
    double ssin = cm * s_sx - sm * s_cx, scos = cm * s_cx + sm * s_sx;
    double tsin = cm * t_sx - sm * t_cx, tcos = cm * t_cx + sm * t_sx;
    double v = mu, m;
    if (step != 0.0) v = v + step * (kappa * (tsin - tsum * ssin));
    if (xi) v = v + ns * xi[0];
    v = dps_wrap(v);
    *mu_out = v;
    m = fabs(v - mu);
    v = kappa;
    if (step_k != 0.0) v = v + step_k * (tcos - tsum * scos);
    v = v < kmin ? kmin : v;
    v = v > kmax ? kmax : v;
    *kappa_out = v;
    return dps_nanmax(m, fabs(v - kappa));
}

/* Gradient of u = D_tot (sum_k theta_k (z_k/D_k)^rho)^(1/rho), theta = D/D_tot, scaled by the
 * smallest (rho < 0) or largest (rho > 0) ratio for stability; z is floored in place */
static void dps_ces_row(const double *restrict D, double *restrict z, double rho, double floor,
                        double *restrict G, int K) {
    double dtot = 0.0, s = 1.0, m = 0.0;
    int first = 1;
    for (int k = 0; k < K; k++) { dtot += D[k]; z[k] = z[k] > floor ? z[k] : floor; }
    if (isinf(rho) && rho < 0) {                      /* Leontief */
        double cnt = 0.0;
        s = INFINITY;
        for (int k = 0; k < K; k++) if (D[k] > 0 && z[k] / D[k] < s) s = z[k] / D[k];
        for (int k = 0; k < K; k++) if (D[k] > 0 && z[k] / D[k] == s) cnt += 1.0;
        for (int k = 0; k < K; k++) G[k] = (D[k] > 0 && z[k] / D[k] == s) ? dtot / (D[k] * cnt) : 0.0;
        return;
    }
    if (rho == 0.0) {                                  /* Cobb-Douglas */
        for (int k = 0; k < K; k++) if (D[k] > 0) m += (D[k] / dtot) * log(z[k] / D[k]);
        double u = dtot * exp(m);
        for (int k = 0; k < K; k++) G[k] = D[k] > 0 ? u * (D[k] / dtot) / ((z[k] / D[k]) * D[k]) : 0.0;
        return;
    }
    for (int k = 0; k < K; k++) {
        if (D[k] > 0) {
            double r = z[k] / D[k];
            if (first) { s = r; first = 0; }
            else if ((rho < 0 && r < s) || (rho > 0 && r > s)) s = r;
        }
    }
    for (int k = 0; k < K; k++) if (D[k] > 0) m += (D[k] / dtot) * pow((z[k] / D[k]) / s, rho);
    if (!(m > 0)) m = 1.0;
    double lead = pow(m, 1.0 / rho - 1.0);
    for (int k = 0; k < K; k++) G[k] = D[k] > 0 ? lead * pow((z[k] / D[k]) / s, rho - 1.0) : 0.0;
}

/* ---- the row functions for each instruction set, and the choice among them ----------------- */

#define DPS_CAT2(a, b) a##b
#define DPS_CAT(a, b) DPS_CAT2(a, b)
#define DPS_NAME(f) DPS_CAT(f, DPS_SUFFIX)

/* called through these pointers (the same names as the functions), set by dps_select_isa */
#define DPS_ROW_FUNCTIONS(X)                                                                       \
    X(dps_softmax_row) X(dps_vonmises_row) X(dps_produce_row) X(dps_mix_row) X(dps_coverage_row)  \
    X(dps_residual_row) X(dps_price_row) X(dps_drive_row) X(dps_ascend_free) X(dps_ascend_signed) \
    X(dps_update_free) X(dps_update_signed) X(dps_ascend_vonmises) X(dps_update_vonmises)

/* DPS_PORTABLE builds only the portable row functions (what other compilers and CPUs get), and
 * DPS_NO_VECTORS those without vector extensions: tests/test_row_builds.py compares them */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(DPS_PORTABLE)
#pragma GCC push_options
#pragma GCC target("avx512f")
#define DPS_SUFFIX _avx512f
#define DPS_VN 8
#include "dps_rows_isa.h"
#pragma GCC pop_options

#pragma GCC push_options
#if __GNUC__ >= 12
#pragma GCC target("arch=x86-64-v3")
#else
#pragma GCC target("avx2,fma") /* GCC before 12 has no x86-64-v3 target */
#endif
#define DPS_SUFFIX _v3
#define DPS_VN 4
#include "dps_rows_isa.h"
#pragma GCC pop_options

#define DPS_SUFFIX _base
#define DPS_VN 2
#include "dps_rows_isa.h"

#define DPS_ISAS 3
#if __GNUC__ >= 12
static const char *const dps_isa_names[DPS_ISAS] = {"avx512f", "x86-64-v3", "x86-64 baseline"};
#else
static const char *const dps_isa_names[DPS_ISAS] = {"avx512f", "avx2", "x86-64 baseline"};
#endif

/* whether this CPU (and its operating system) runs the row functions of dps_isa_names[i] */
static int dps_cpu_runs(int i) {
    __builtin_cpu_init();
    if (i == 0) return __builtin_cpu_supports("avx512f");
#if __GNUC__ >= 12
    if (i == 1) return __builtin_cpu_supports("x86-64-v3");
#else
    if (i == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 1;
}

#define DPS_POINTER(f) static __typeof__(f##_base) *f = f##_base;
DPS_ROW_FUNCTIONS(DPS_POINTER)
#define DPS_USE_AVX512(f) f = f##_avx512f;
#define DPS_USE_V3(f) f = f##_v3;
#define DPS_USE_BASE(f) f = f##_base;
static void dps_use_isa(int i) {
    if (i == 0) {
        DPS_ROW_FUNCTIONS(DPS_USE_AVX512)
    } else if (i == 1) {
        DPS_ROW_FUNCTIONS(DPS_USE_V3)
    } else {
        DPS_ROW_FUNCTIONS(DPS_USE_BASE)
    }
}

#else /* other compilers and CPUs: one build of the row functions, for the compiler's target */
#define DPS_SUFFIX
#if defined(__GNUC__) && !defined(DPS_NO_VECTORS)
#define DPS_VN 2
#endif
#include "dps_rows_isa.h"

#define DPS_ISAS 1
static const char *const dps_isa_names[DPS_ISAS] = {"portable C (no clones)"};
static int dps_cpu_runs(int i) { return i == 0; }
static void dps_use_isa(int i) { (void)i; }
#endif

static int dps_isa_now = -1;

/* Runs the row functions compiled for the instruction set `name` (NULL: the best this CPU runs).
 * Returns 0, or -1 if the name is unknown and -2 if this CPU does not run it. Not while a step runs. */
static int dps_select_isa(const char *name) {
    for (int i = 0; i < DPS_ISAS; i++) {
        if (name ? strcmp(name, dps_isa_names[i]) != 0 : !dps_cpu_runs(i)) continue;
        if (!dps_cpu_runs(i)) return -2;
        dps_use_isa(i);
        dps_isa_now = i;
        return 0;
    }
    return -1;
}

/* the instruction set the row functions run with now */
static const char *dps_isa(void) {
    if (dps_isa_now < 0) dps_select_isa(NULL);
    return dps_isa_names[dps_isa_now];
}

/* the instruction set names: the i-th, or NULL past the last */
static const char *dps_isa_name(int i) { return i >= 0 && i < DPS_ISAS ? dps_isa_names[i] : NULL; }

#endif
