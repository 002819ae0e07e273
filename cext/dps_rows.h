/* Row kernels of the compiled step: one agent's (or one node's) K-vector at a time.
 *
 * Plain C over raw pointers (restrict where rows cannot overlap), so that the compiler
 * vectorises the loops over tasks; _kernel.pyx runs them inside `prange` over agents.
 * Every loop runs in a fixed order: results do not depend on the number of threads.
 */
#ifndef DPS_ROWS_H
#define DPS_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define DPS_TINY 1e-300
#define DPS_TWO_PI 6.283185307179586

/* Row functions are compiled for AVX-512, x86-64-v3 (AVX2 with FMA) and the x86-64 baseline, and
 * the best one the CPU has is picked at load time (as NumPy does). The build contracts a * b + c
 * into fused multiply-add (-ffp-contract=fast) where the instruction set has it: the AVX-512 and
 * x86-64-v3 clones; the baseline has no FMA and computes exactly what it did with contraction off.
 * So the clones agree to rounding, not bit for bit; each is deterministic, and every reduction
 * still runs in the order written here, so results do not depend on the thread count. */
/* Non-temporal stores are weakly ordered: a pass that uses them calls dps_sfence before its
 * results are read by another thread (the end of the parallel region). */
/* helpers are always inlined into the row functions, so that they are compiled for the clone's
 * instruction set (an out-of-line copy would run the baseline one) */
#if defined(__GNUC__)
#define DPS_INLINE static inline __attribute__((always_inline))
#else
#define DPS_INLINE static inline
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 12
#define DPS_HOT __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default"), noinline))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* GCC before 12 cannot dispatch on x86-64-v3: its AVX2 clone has no FMA */
#define DPS_HOT __attribute__((target_clones("avx512f", "avx2", "default"), noinline))
#else
#define DPS_HOT
#endif

DPS_INLINE void dps_sfence(void) {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

/* max that keeps NaN once seen (a NaN change must reach the engine's finiteness check) */
DPS_INLINE double dps_nanmax(double m, double d) { return (m != m || d <= m) ? m : d; }

/* exp(x) within about 2 ulp (max relative error 4.3e-16 measured against glibc), written without
 * branches or library calls so that loops of it vectorise.
 * x = n ln2 + r with |r| <= ln2/2, then exp(r) by its Taylor polynomial to r^13 evaluated in
 * Estrin's scheme: the same terms as Horner's rule, but a dependency chain of 6 operations instead
 * of 26, so that a row's exponentials overlap in the pipeline instead of waiting on each other.
 * dps_exp_in_range is right only for -708 <= x <= 709 (or NaN); dps_exp clamps x to that range
 * first and then flushes results below exp(-708) to 0 and above to infinity. Inside the range the
 * two compute the same operations, so rows whose arguments are known to lie there take the first
 * (fewer operations per entry) with the same results bit for bit. */
DPS_INLINE double dps_exp_in_range(double x) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01; /* trailing zero bits: n * ln2_hi is exact */
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0;       /* 1.5 * 2^52: adding it rounds to an integer */
    double t = x * log2e + shifter;
    double n = t - shifter;
    double r = (x - n * ln2_hi) - n * ln2_lo;        /* |r| <= ln2 / 2; truncation after r^13 < 2e-16 */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6.0), p45 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double p67 = 1.0 / 720.0 + r * (1.0 / 5040.0), p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0), p1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double q0 = p01 + r2 * p23, q1 = p45 + r2 * p67, q2 = p89 + r2 * p1011;
    double p = (q0 + r4 * q1) + r8 * (q2 + r4 * p1213);
    int64_t ti;
    memcpy(&ti, &t, 8);                              /* t's bits minus the shifter's are n */
    int64_t bits = (ti - 0x4338000000000000LL + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, 8);
    return p * scale;
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

DPS_INLINE double dps_tree(const double *s) {
    double a[8];
    for (int j = 0; j < 8; j++) a[j] = s[j] + s[j + 8];
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

#if defined(__GNUC__)
#define DPS_VEC 1
typedef double dps_v8 __attribute__((vector_size(64)));
typedef int64_t dps_i8 __attribute__((vector_size(64)));
DPS_INLINE dps_v8 dps_ld(const double *p) {
    dps_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
DPS_INLINE void dps_st(double *p, dps_v8 v) { memcpy(p, &v, sizeof v); }
/* a store that bypasses the caches when p is 64-byte aligned (the new state, written once and read
 * only in the next step: no read-for-ownership of its lines); the values stored are the same */
DPS_INLINE void dps_st_stream(double *p, dps_v8 v, int aligned) {
#if defined(__x86_64__)
    if (aligned) { /* SSE2 streaming stores: part of the x86-64 baseline, so in every clone */
        _mm_stream_pd(p, _mm_set_pd(v[1], v[0]));
        _mm_stream_pd(p + 2, _mm_set_pd(v[3], v[2]));
        _mm_stream_pd(p + 4, _mm_set_pd(v[5], v[4]));
        _mm_stream_pd(p + 6, _mm_set_pd(v[7], v[6]));
        return;
    }
#endif
    (void)aligned;
    dps_st(p, v);
}
/* x where take, else m, lane by lane */
DPS_INLINE dps_v8 dps_sel(dps_i8 take, dps_v8 x, dps_v8 m) {
    return (dps_v8)(((dps_i8)x & take) | ((dps_i8)m & ~take));
}
#endif

DPS_INLINE double dps_sum(const double *restrict a, int K) {
    double s[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 s0 = {0}, s1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        s0 += dps_ld(a + k);
        s1 += dps_ld(a + k + 8);
    }
    memcpy(s, &s0, sizeof s0);
    memcpy(s + 8, &s1, sizeof s1);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) s[j] += a[k + j];
#endif
    for (int j = 0; k + j < K; j++) s[j] += a[k + j];
    return dps_tree(s);
}

DPS_INLINE double dps_dot(const double *restrict a, const double *restrict b, int K) {
    double s[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 s0 = {0}, s1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        s0 += dps_ld(a + k) * dps_ld(b + k);
        s1 += dps_ld(a + k + 8) * dps_ld(b + k + 8);
    }
    memcpy(s, &s0, sizeof s0);
    memcpy(s + 8, &s1, sizeof s1);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) s[j] += a[k + j] * b[k + j];
#endif
    for (int j = 0; k + j < K; j++) s[j] += a[k + j] * b[k + j];
    return dps_tree(s);
}

/* max_k |a_k - b_k|, NaN if any difference is NaN (so the engine sees a non-finite step); the
 * result is the same for any order of comparisons */
DPS_INLINE double dps_absdiff_max(const double *restrict a, const double *restrict b, int K) {
    double m = 0.0;
    int bad = 0, k = 0;
#ifdef DPS_VEC
    dps_v8 m0 = {0};
    dps_i8 nan0 = {0}, absmask;
    for (int j = 0; j < 8; j++) absmask[j] = INT64_MAX;
    for (; k + 8 <= K; k += 8) {
        dps_v8 d = (dps_v8)((dps_i8)(dps_ld(a + k) - dps_ld(b + k)) & absmask);
        m0 = dps_sel(d > m0, d, m0);
        nan0 |= d != d;
    }
    for (int j = 0; j < 8; j++) {
        m = m0[j] > m ? m0[j] : m;
        bad |= nan0[j] != 0;
    }
#endif
    for (; k < K; k++) {
        double d = fabs(a[k] - b[k]);
        m = d > m ? d : m;
        bad |= !(d == d);
    }
    return bad ? NAN : m;
}

/* the largest entry, and the smallest in *lo (any NaN makes the caller's row NaN, whatever these are) */
DPS_INLINE double dps_max_min(const double *restrict a, int K, double *lo) {
    double m = a[0], l = a[0];
    int k = 0;
#ifdef DPS_VEC
    if (K >= 8) {
        dps_v8 m0 = dps_ld(a), l0 = m0;
        for (k = 8; k + 8 <= K; k += 8) {
            dps_v8 x = dps_ld(a + k);
            m0 = dps_sel(x > m0, x, m0);
            l0 = dps_sel(x < l0, x, l0);
        }
        for (int j = 0; j < 8; j++) {
            m = m0[j] > m ? m0[j] : m;
            l = l0[j] < l ? l0[j] : l;
        }
    }
#endif
    for (; k < K; k++) {
        m = a[k] > m ? a[k] : m;
        l = a[k] < l ? a[k] : l;
    }
    *lo = l;
    return m;
}

/* ---- produce --------------------------------------------------------------------------- */

DPS_HOT static void dps_softmax_row(const double *restrict L, double *restrict S, int K) {
    double lo, top = dps_max_min(L, K, &lo);
    if (top - lo <= 708.0) /* every L_k - top in [-708, 0] (false with a NaN or an infinity) */
        for (int k = 0; k < K; k++) S[k] = dps_exp_in_range(L[k] - top);
    else
        for (int k = 0; k < K; k++) S[k] = dps_exp(L[k] - top);
    double inv = 1.0 / dps_sum(S, K); /* one division per row, not per entry */
    for (int k = 0; k < K; k++) S[k] = S[k] * inv;
}

/* cos(x_k - mu) = cos x_k cos mu + sin x_k sin mu (cm, sm: cos mu, sin mu): no trigonometry per task */
DPS_HOT static void dps_vonmises_row(double cm, double sm, double kappa, const double *restrict cx,
                                     const double *restrict sx, double *restrict S, int K) {
    /* the argument is kappa (cos(x_k - mu) - 1), within [-2.001 |kappa|, 0.001 |kappa|] */
    if (fabs(kappa) <= 350.0)
        for (int k = 0; k < K; k++) S[k] = dps_exp_in_range(kappa * ((cx[k] * cm + sx[k] * sm) - 1.0));
    else
        for (int k = 0; k < K; k++) S[k] = dps_exp(kappa * ((cx[k] * cm + sx[k] * sm) - 1.0));
    double inv = 1.0 / dps_sum(S, K); /* one division per row, not per entry */
    for (int k = 0; k < K; k++) S[k] = S[k] * inv;
}

/* Y = w C S^alpha; C == NULL means all ones */
DPS_HOT static void dps_produce_row(double w, const double *restrict C, const double *restrict S,
                                    double *restrict Y, double alpha, int K) {
    if (alpha == 1.0) {
        if (C) for (int k = 0; k < K; k++) Y[k] = w * C[k] * S[k];
        else for (int k = 0; k < K; k++) Y[k] = w * S[k];
    } else {
        for (int k = 0; k < K; k++) Y[k] = w * (C ? C[k] : 1.0) * pow(S[k], alpha);
    }
}

/* ---- mixing: one row of (a I + gamma P) X for a CSR P, or of a X + b colsum(X) -----------
 * With a row scale v (not NULL), X's row j stands for v_j X_j: production Y = w S is gathered
 * from the profiles S without ever being stored (alpha = 1, capabilities all ones). */

/* Rows of X addressed through a window of a tile's rows held in a ring buffer (the fused pass):
 * row j sits at its offset from the tile's first row lo, taken cyclically modulo n into
 * [-W, Tb + W), in slot (offset + W) mod (mask + 1). NULL: X itself, row j at X + j K. */
typedef struct {
    const double *base;
    int64_t lo, n, W, Tb, mask;
} dps_ring;

DPS_INLINE const double *dps_row(const double *X, const dps_ring *rg, int64_t j, int K) {
    if (!rg) return X + j * K;
    int64_t off = j - rg->lo;
    if (off < -rg->W) off += rg->n;
    else if (off >= rg->Tb + rg->W) off -= rg->n;
    return rg->base + ((off + rg->W) & rg->mask) * K;
}

DPS_HOT static void dps_mix_row(int csr, double a, double b, double gamma, const int64_t *indptr,
                                const int64_t *indices, const double *data, const double *X, const dps_ring *rg,
                                const double *v, const double *colsum, int64_t i, int K, double *restrict out) {
    const double *xi = dps_row(X, rg, i, K);
    double ai = v ? a * v[i] : a;
    if (csr) {
        /* blocks of DPS_LANES tasks held in registers while the neighbours' rows stream past: each
         * output entry is loaded and stored once, not once per edge (same additions, same order) */
        int64_t lo = indptr[i], hi = indptr[i + 1];
        int k0 = 0;
#ifdef DPS_VEC
        if (hi - lo <= 32) { /* the neighbours' rows and weights looked up once, not once per block */
            const double *rp[32];
            double wt[32];
            int deg = (int)(hi - lo);
            for (int e = 0; e < deg; e++) {
                int64_t jn = indices[lo + e];
                rp[e] = dps_row(X, rg, jn, K);
                wt[e] = v ? gamma * data[lo + e] * v[jn] : gamma * data[lo + e];
            }
            for (; k0 + 32 <= K; k0 += 32) {
                dps_v8 acc0 = ai * dps_ld(xi + k0), acc1 = ai * dps_ld(xi + k0 + 8);
                dps_v8 acc2 = ai * dps_ld(xi + k0 + 16), acc3 = ai * dps_ld(xi + k0 + 24);
                for (int e = 0; e < deg; e++) {
                    const double *xj = rp[e] + k0;
                    double we = wt[e];
                    acc0 = acc0 + we * dps_ld(xj);
                    acc1 = acc1 + we * dps_ld(xj + 8);
                    acc2 = acc2 + we * dps_ld(xj + 16);
                    acc3 = acc3 + we * dps_ld(xj + 24);
                }
                dps_st(out + k0, acc0);
                dps_st(out + k0 + 8, acc1);
                dps_st(out + k0 + 16, acc2);
                dps_st(out + k0 + 24, acc3);
            }
            for (; k0 + DPS_LANES <= K; k0 += DPS_LANES) {
                dps_v8 acc0 = ai * dps_ld(xi + k0), acc1 = ai * dps_ld(xi + k0 + 8);
                for (int e = 0; e < deg; e++) {
                    const double *xj = rp[e] + k0;
                    acc0 = acc0 + wt[e] * dps_ld(xj);
                    acc1 = acc1 + wt[e] * dps_ld(xj + 8);
                }
                dps_st(out + k0, acc0);
                dps_st(out + k0 + 8, acc1);
            }
        }
        for (; k0 + 32 <= K; k0 += 32) { /* four independent chains: latency overlaps */
            dps_v8 acc0 = ai * dps_ld(xi + k0), acc1 = ai * dps_ld(xi + k0 + 8);
            dps_v8 acc2 = ai * dps_ld(xi + k0 + 16), acc3 = ai * dps_ld(xi + k0 + 24);
            for (int64_t e = lo; e < hi; e++) {
                int64_t jn = indices[e];
                const double *xj = dps_row(X, rg, jn, K) + k0;
                double we = v ? gamma * data[e] * v[jn] : gamma * data[e];
                acc0 = acc0 + we * dps_ld(xj);
                acc1 = acc1 + we * dps_ld(xj + 8);
                acc2 = acc2 + we * dps_ld(xj + 16);
                acc3 = acc3 + we * dps_ld(xj + 24);
            }
            dps_st(out + k0, acc0);
            dps_st(out + k0 + 8, acc1);
            dps_st(out + k0 + 16, acc2);
            dps_st(out + k0 + 24, acc3);
        }
        for (; k0 + DPS_LANES <= K; k0 += DPS_LANES) {
            dps_v8 acc0 = ai * dps_ld(xi + k0), acc1 = ai * dps_ld(xi + k0 + 8);
            for (int64_t e = lo; e < hi; e++) {
                int64_t jn = indices[e];
                const double *xj = dps_row(X, rg, jn, K) + k0;
                double we = v ? gamma * data[e] * v[jn] : gamma * data[e];
                acc0 = acc0 + we * dps_ld(xj);
                acc1 = acc1 + we * dps_ld(xj + 8);
            }
            dps_st(out + k0, acc0);
            dps_st(out + k0 + 8, acc1);
        }
#endif
        if (k0 < K) {
            for (int k = k0; k < K; k++) out[k] = ai * xi[k];
            for (int64_t e = lo; e < hi; e++) {
                int64_t jn = indices[e];
                const double *xj = dps_row(X, rg, jn, K);
                double we = v ? gamma * data[e] * v[jn] : gamma * data[e];
                for (int k = k0; k < K; k++) out[k] = out[k] + we * xj[k];
            }
        }
    } else {
        for (int k = 0; k < K; k++) out[k] = ai * xi[k] + b * colsum[k];
    }
}

/* ---- signals (G from the supply z seen at a node and its demand row D) ------------------- */

DPS_HOT static void dps_coverage_row(const double *restrict D, const double *restrict z, double tau,
                                     double *restrict G, int K) {
    if (tau == 0.0) {
        for (int k = 0; k < K; k++) {
            double diff = D[k] - z[k];
            G[k] = diff > 0 ? 1.0 : (diff == 0 ? 0.5 : 0.0);
        }
    } else {
        double rt = 1.0 / tau; /* a multiplication per entry instead of a second division */
        /* every |z_k - D_k| |rt| <= 708: the exponential's argument needs no clamping */
        if (dps_absdiff_max(z, D, K) * fabs(rt) <= 708.0)
            for (int k = 0; k < K; k++) G[k] = 1.0 / (1.0 + dps_exp_in_range((z[k] - D[k]) * rt));
        else
            for (int k = 0; k < K; k++) G[k] = 1.0 / (1.0 + dps_exp((z[k] - D[k]) * rt));
    }
}

DPS_HOT static void dps_residual_row(const double *restrict D, const double *restrict z, double *restrict G, int K) {
    for (int k = 0; k < K; k++) G[k] = D[k] - z[k];
}

/* G = p; new prices follow excess demand (multiplicative or additive), floored at p_min */
DPS_HOT static void dps_price_row(const double *restrict D, const double *restrict z, const double *restrict p,
                                  int additive, double step, double scale, double p_min,
                                  double *restrict G, double *restrict p_new, int K) {
    for (int k = 0; k < K; k++) {
        double diff = (D[k] - z[k]) / scale;
        double u = additive ? p[k] + step * diff : p[k] * dps_exp(step * diff);
        G[k] = p[k];
        p_new[k] = u > p_min ? u : p_min;
    }
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

/* ---- update ---------------------------------------------------------------------------------- */

/* T = S * dJ/dS (non-negative families; dJ/dS itself for signed atoms) and dJ/dw from the net
 * price h; returns dJ/dw and writes sum(T) to *tsum. q is scratch for C * S^alpha. */
DPS_HOT static double dps_drive_row(const double *restrict h, const double *restrict S, const double *restrict Y,
                                    const double *restrict C, double w, double alpha, int signed_family,
                                    double lam_s, double *restrict T, double *restrict q, double *tsum, int K) {
    /* Y == NULL: production was not stored, Y = w S (alpha = 1, C all ones) */
    const double *cs = S;                            /* C * S^alpha, without a copy in the common case */
    if (C || alpha != 1.0) {
        for (int k = 0; k < K; k++) q[k] = (C ? C[k] : 1.0) * (alpha == 1.0 ? S[k] : pow(S[k], alpha));
        cs = q;
    }
    double gw = dps_dot(h, cs, K);
    if (signed_family) {
        if (C) for (int k = 0; k < K; k++) T[k] = h[k] * w * C[k];
        else for (int k = 0; k < K; k++) T[k] = h[k] * w;
    } else {
        if (Y) for (int k = 0; k < K; k++) T[k] = alpha * h[k] * Y[k];
        else for (int k = 0; k < K; k++) T[k] = alpha * h[k] * (w * S[k]);
        if (lam_s != 0.0)
            for (int k = 0; k < K; k++) T[k] = T[k] - lam_s * S[k] * (log(S[k] > DPS_TINY ? S[k] : DPS_TINY) + 1.0);
    }
    *tsum = dps_sum(T, K);
    return gw;
}

/* logits += step (T - S sum T) (+ noise); returns the largest change */
DPS_HOT static double dps_ascend_free(const double *restrict P, const double *restrict S, const double *restrict T,
                                      double tsum, double step, const double *restrict xi, double ns,
                                      double *restrict out, int K) {
    if (step != 0.0) for (int k = 0; k < K; k++) out[k] = P[k] + step * (T[k] - S[k] * tsum);
    else for (int k = 0; k < K; k++) out[k] = P[k];
    if (xi) for (int k = 0; k < K; k++) out[k] = out[k] + ns * xi[k];
    return dps_absdiff_max(out, P, K);
}

/* atoms += step (T - (T.a) a) (+ noise), then unit norm; returns the largest change.
 * With step 0 it copies P (plus noise) and renormalises: T is then not read. */
DPS_HOT static double dps_ascend_signed(const double *restrict P, const double *restrict T, double step,
                                        const double *restrict xi, double ns, double *restrict out, int K) {
    if (step != 0.0) {
        double dot = dps_dot(T, P, K);
        for (int k = 0; k < K; k++) out[k] = P[k] + step * (T[k] - dot * P[k]);
    } else {
        for (int k = 0; k < K; k++) out[k] = P[k];
    }
    if (xi) for (int k = 0; k < K; k++) out[k] = out[k] + ns * xi[k];
    double nrm = sqrt(dps_dot(out, out, K));
    if (!(nrm > 0)) nrm = 1.0;
    double inv = 1.0 / nrm;
    for (int k = 0; k < K; k++) out[k] = out[k] * inv;
    return dps_absdiff_max(out, P, K);
}

/* The gradient-type update of one agent in the common case (capabilities all ones, alpha = 1,
 * production not stored, no specialisation penalty): dps_drive_row followed by dps_ascend_free or
 * dps_ascend_signed, with the same operations in the same order (each sum in its own 16 lanes,
 * combined by dps_tree), so the results are the same bit for bit; but in two or three sweeps over
 * the row instead of five to seven, and the new row is written once and never read back. T is
 * scratch. Returns the largest change and writes dJ/dw to *gw. */
DPS_HOT static double dps_update_free(const double *restrict h, const double *restrict S, const double *restrict P,
                                      double w, double alpha, double step, const double *restrict xi, double ns,
                                      double *restrict T, double *restrict out, double *gw, int K) {
    double sg[DPS_LANES] = {0}, st[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 g0 = {0}, g1 = {0}, t0 = {0}, t1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        dps_v8 h0 = dps_ld(h + k), h1 = dps_ld(h + k + 8), s0 = dps_ld(S + k), s1 = dps_ld(S + k + 8);
        dps_v8 a0 = alpha * h0 * (w * s0), a1 = alpha * h1 * (w * s1);
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        g0 += h0 * s0;
        g1 += h1 * s1;
        t0 += a0;
        t1 += a1;
    }
    memcpy(sg, &g0, sizeof g0);
    memcpy(sg + 8, &g1, sizeof g1);
    memcpy(st, &t0, sizeof t0);
    memcpy(st + 8, &t1, sizeof t1);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) {
            T[k + j] = alpha * h[k + j] * (w * S[k + j]);
            sg[j] += h[k + j] * S[k + j];
            st[j] += T[k + j];
        }
#endif
    for (int j = 0; k + j < K; j++) {
        T[k + j] = alpha * h[k + j] * (w * S[k + j]);
        sg[j] += h[k + j] * S[k + j];
        st[j] += T[k + j];
    }
    *gw = dps_tree(sg);
    double tsum = dps_tree(st);
    double m = 0.0;
    int bad = 0;
    k = 0;
#ifdef DPS_VEC
    if (step != 0.0) {
        int aligned = ((uintptr_t)out & 63) == 0;
        dps_v8 m0 = {0};
        dps_i8 nan0 = {0}, absmask;
        for (int j = 0; j < 8; j++) absmask[j] = INT64_MAX;
        for (; k + 8 <= K; k += 8) {
            dps_v8 p = dps_ld(P + k);
            dps_v8 o = p + step * (dps_ld(T + k) - dps_ld(S + k) * tsum);
            if (xi) o = o + ns * dps_ld(xi + k);
            dps_st_stream(out + k, o, aligned);
            dps_v8 d = (dps_v8)((dps_i8)(o - p) & absmask);
            m0 = dps_sel(d > m0, d, m0);
            nan0 |= d != d;
        }
        for (int j = 0; j < 8; j++) {
            m = m0[j] > m ? m0[j] : m;
            bad |= nan0[j] != 0;
        }
    }
#endif
    for (; k < K; k++) {
        double o = step != 0.0 ? P[k] + step * (T[k] - S[k] * tsum) : P[k];
        if (xi) o = o + ns * xi[k];
        out[k] = o;
        double d = fabs(o - P[k]);
        m = d > m ? d : m;
        bad |= !(d == d);
    }
    return bad ? NAN : m;
}

DPS_HOT static double dps_update_signed(const double *restrict h, const double *restrict P, double w, double step,
                                        const double *restrict xi, double ns, double *restrict T,
                                        double *restrict out, double *gw, int K) {
    double sg[DPS_LANES] = {0}, sd[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 g0 = {0}, g1 = {0}, d0 = {0}, d1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        dps_v8 h0 = dps_ld(h + k), h1 = dps_ld(h + k + 8), p0 = dps_ld(P + k), p1 = dps_ld(P + k + 8);
        dps_v8 a0 = h0 * w, a1 = h1 * w;
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        g0 += h0 * p0;
        g1 += h1 * p1;
        d0 += a0 * p0;
        d1 += a1 * p1;
    }
    memcpy(sg, &g0, sizeof g0);
    memcpy(sg + 8, &g1, sizeof g1);
    memcpy(sd, &d0, sizeof d0);
    memcpy(sd + 8, &d1, sizeof d1);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) {
            T[k + j] = h[k + j] * w;
            sg[j] += h[k + j] * P[k + j];
            sd[j] += T[k + j] * P[k + j];
        }
#endif
    for (int j = 0; k + j < K; j++) {
        T[k + j] = h[k + j] * w;
        sg[j] += h[k + j] * P[k + j];
        sd[j] += T[k + j] * P[k + j];
    }
    *gw = dps_tree(sg);
    double dot = dps_tree(sd);
    /* the new atoms before normalisation, in T (hot in L1), and their squared norm in the same
     * sweep (the lanes and the order of dps_dot) */
    double sn[DPS_LANES] = {0};
    k = 0;
#ifdef DPS_VEC
    dps_v8 n0 = {0}, n1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        dps_v8 p0 = dps_ld(P + k), p1 = dps_ld(P + k + 8), a0 = p0, a1 = p1;
        if (step != 0.0) {
            a0 = p0 + step * (dps_ld(T + k) - dot * p0);
            a1 = p1 + step * (dps_ld(T + k + 8) - dot * p1);
        }
        if (xi) {
            a0 = a0 + ns * dps_ld(xi + k);
            a1 = a1 + ns * dps_ld(xi + k + 8);
        }
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        n0 += a0 * a0;
        n1 += a1 * a1;
    }
    memcpy(sn, &n0, sizeof n0);
    memcpy(sn + 8, &n1, sizeof n1);
#endif
    for (int j = 0; k + j < K; j++) {
        double a = step != 0.0 ? P[k + j] + step * (T[k + j] - dot * P[k + j]) : P[k + j];
        if (xi) a = a + ns * xi[k + j];
        T[k + j] = a;
        sn[j] += a * a;
    }
    double nrm = sqrt(dps_tree(sn));
    if (!(nrm > 0)) nrm = 1.0;
    double inv = 1.0 / nrm;
    double m = 0.0;
    int bad = 0;
    k = 0;
#ifdef DPS_VEC
    int aligned = ((uintptr_t)out & 63) == 0;
    dps_v8 m0 = {0};
    dps_i8 nan0 = {0}, absmask;
    for (int j = 0; j < 8; j++) absmask[j] = INT64_MAX;
    for (; k + 8 <= K; k += 8) {
        dps_v8 o = dps_ld(T + k) * inv;
        dps_st_stream(out + k, o, aligned);
        dps_v8 d = (dps_v8)((dps_i8)(o - dps_ld(P + k)) & absmask);
        m0 = dps_sel(d > m0, d, m0);
        nan0 |= d != d;
    }
    for (int j = 0; j < 8; j++) {
        m = m0[j] > m ? m0[j] : m;
        bad |= nan0[j] != 0;
    }
#endif
    for (; k < K; k++) {
        double o = T[k] * inv;
        out[k] = o;
        double d = fabs(o - P[k]);
        m = d > m ? d : m;
        bad |= !(d == d);
    }
    return bad ? NAN : m;
}

DPS_INLINE double dps_wrap(double v) {
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

/* von Mises centre and concentration ascent from the drive T and its sum; returns the largest change */
DPS_HOT static double dps_ascend_vonmises(double mu, double kappa, double cm, double sm, const double *restrict cx,
                                          const double *restrict sx, const double *restrict S,
                                          const double *restrict T, double tsum, double step, double step_k,
                                          const double *xi, double ns, double kmin, double kmax, double *mu_out,
                                          double *kappa_out, int K) {
    double s_cx = dps_dot(S, cx, K), s_sx = dps_dot(S, sx, K), t_cx = dps_dot(T, cx, K), t_sx = dps_dot(T, sx, K);
    return dps_vonmises_move(mu, kappa, cm, sm, s_cx, s_sx, t_cx, t_sx, tsum, step, step_k, xi, ns, kmin, kmax,
                             mu_out, kappa_out);
}

/* dps_drive_row followed by dps_ascend_vonmises in the common case (capabilities all ones, alpha = 1,
 * production not stored, no specialisation penalty), with the same operations in the same order (each
 * of the six sums in its own 16 lanes, combined by dps_tree): the same results bit for bit, in one
 * sweep over the row instead of seven, and T is never stored. Writes dJ/dw to *gw. */
DPS_HOT static double dps_update_vonmises(const double *restrict h, const double *restrict S, double w, double alpha,
                                          double mu, double kappa, double cm, double sm, const double *restrict cx,
                                          const double *restrict sx, double step, double step_k, const double *xi,
                                          double ns, double kmin, double kmax, double *mu_out, double *kappa_out,
                                          double *gw, int K) {
    double sg[DPS_LANES] = {0}, st[DPS_LANES] = {0}, sc[DPS_LANES] = {0}, ss[DPS_LANES] = {0};
    double tc[DPS_LANES] = {0}, ts[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 g0 = {0}, g1 = {0}, t0 = {0}, t1 = {0}, c0 = {0}, c1 = {0}, s0 = {0}, s1 = {0};
    dps_v8 u0 = {0}, u1 = {0}, v0 = {0}, v1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        dps_v8 h0 = dps_ld(h + k), h1 = dps_ld(h + k + 8), e0 = dps_ld(S + k), e1 = dps_ld(S + k + 8);
        dps_v8 x0 = dps_ld(cx + k), x1 = dps_ld(cx + k + 8), y0 = dps_ld(sx + k), y1 = dps_ld(sx + k + 8);
        dps_v8 a0 = alpha * h0 * (w * e0), a1 = alpha * h1 * (w * e1);
        g0 += h0 * e0;
        g1 += h1 * e1;
        t0 += a0;
        t1 += a1;
        c0 += e0 * x0;
        c1 += e1 * x1;
        s0 += e0 * y0;
        s1 += e1 * y1;
        u0 += a0 * x0;
        u1 += a1 * x1;
        v0 += a0 * y0;
        v1 += a1 * y1;
    }
    memcpy(sg, &g0, sizeof g0);
    memcpy(sg + 8, &g1, sizeof g1);
    memcpy(st, &t0, sizeof t0);
    memcpy(st + 8, &t1, sizeof t1);
    memcpy(sc, &c0, sizeof c0);
    memcpy(sc + 8, &c1, sizeof c1);
    memcpy(ss, &s0, sizeof s0);
    memcpy(ss + 8, &s1, sizeof s1);
    memcpy(tc, &u0, sizeof u0);
    memcpy(tc + 8, &u1, sizeof u1);
    memcpy(ts, &v0, sizeof v0);
    memcpy(ts + 8, &v1, sizeof v1);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) {
            double a = alpha * h[k + j] * (w * S[k + j]);
            sg[j] += h[k + j] * S[k + j];
            st[j] += a;
            sc[j] += S[k + j] * cx[k + j];
            ss[j] += S[k + j] * sx[k + j];
            tc[j] += a * cx[k + j];
            ts[j] += a * sx[k + j];
        }
#endif
    for (int j = 0; k + j < K; j++) {
        double a = alpha * h[k + j] * (w * S[k + j]);
        sg[j] += h[k + j] * S[k + j];
        st[j] += a;
        sc[j] += S[k + j] * cx[k + j];
        ss[j] += S[k + j] * sx[k + j];
        tc[j] += a * cx[k + j];
        ts[j] += a * sx[k + j];
    }
    *gw = dps_tree(sg);
    return dps_vonmises_move(mu, kappa, cm, sm, dps_tree(sc), dps_tree(ss), dps_tree(tc), dps_tree(ts),
                             dps_tree(st), step, step_k, xi, ns, kmin, kmax, mu_out, kappa_out);
}

#endif
