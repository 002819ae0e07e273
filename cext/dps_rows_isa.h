/* The row functions that run per entry, compiled once for each instruction set: dps_rows.h
 * includes this file several times, each time with DPS_SUFFIX (appended to every name defined
 * here) and, where the compiler has vector extensions, DPS_VN (doubles per vector register).
 *
 * Lanes. Reductions over a row use DPS_LANES = 16 independent accumulators (lane j takes the
 * entries k = j mod 16), combined in a fixed tree: they are not bound by the latency of one long
 * chain of additions, and the order of every addition is fixed in the source, so results do not
 * depend on the thread count or the vector width (with FMA, a product added to a lane is rounded
 * once instead of twice). A dps_v8 holds 8 lanes as 8 / DPS_VN native vectors (one AVX-512
 * register, two AVX2 ones, four SSE2 ones), so that values live in registers on every
 * instruction set; compilers without vector extensions run the same arithmetic as plain loops. */

#define dps_vn DPS_NAME(dps_vn)
#define dps_in DPS_NAME(dps_in)
#define dps_un DPS_NAME(dps_un)
#define dps_exp_vn DPS_NAME(dps_exp_vn)
#define dps_v8 DPS_NAME(dps_v8)
#define dps_i8 DPS_NAME(dps_i8)
#define dps_ld DPS_NAME(dps_ld)
#define dps_st DPS_NAME(dps_st)
#define dps_st16 DPS_NAME(dps_st16)
#define dps_tree16 DPS_NAME(dps_tree16)
#define dps_st_stream DPS_NAME(dps_st_stream)
#define dps_add DPS_NAME(dps_add)
#define dps_sub DPS_NAME(dps_sub)
#define dps_mul DPS_NAME(dps_mul)
#define dps_scale DPS_NAME(dps_scale)
#define dps_vabs DPS_NAME(dps_vabs)
#define dps_vmax DPS_NAME(dps_vmax)
#define dps_vmin DPS_NAME(dps_vmin)
#define dps_larger DPS_NAME(dps_larger)
#define dps_smaller DPS_NAME(dps_smaller)
#define dps_track DPS_NAME(dps_track)
#define dps_fold8 DPS_NAME(dps_fold8)
#define dps_any DPS_NAME(dps_any)
#define dps_fold DPS_NAME(dps_fold)
#define dps_sum DPS_NAME(dps_sum)
#define dps_dot DPS_NAME(dps_dot)
#define dps_absdiff_max DPS_NAME(dps_absdiff_max)
#define dps_max_min DPS_NAME(dps_max_min)
#define dps_normalise DPS_NAME(dps_normalise)
#define dps_profile_block DPS_NAME(dps_profile_block)
#define dps_profile_exp DPS_NAME(dps_profile_exp)
#define dps_softmax_row DPS_NAME(dps_softmax_row)
#define dps_vonmises_row DPS_NAME(dps_vonmises_row)
#define dps_produce_row DPS_NAME(dps_produce_row)
#define dps_st_mixed DPS_NAME(dps_st_mixed)
#define dps_mix_blocks DPS_NAME(dps_mix_blocks)
#define dps_mix_row DPS_NAME(dps_mix_row)
#define dps_coverage_row DPS_NAME(dps_coverage_row)
#define dps_residual_row DPS_NAME(dps_residual_row)
#define dps_price_row DPS_NAME(dps_price_row)
#define dps_drive_row DPS_NAME(dps_drive_row)
#define dps_ascend_free DPS_NAME(dps_ascend_free)
#define dps_ascend_signed DPS_NAME(dps_ascend_signed)
#define dps_update_free DPS_NAME(dps_update_free)
#define dps_update_signed DPS_NAME(dps_update_signed)
#define dps_ascend_vonmises DPS_NAME(dps_ascend_vonmises)
#define dps_update_vonmises DPS_NAME(dps_update_vonmises)

#if defined(__GNUC__)
#define DPS_HOT __attribute__((noinline))
#else
#define DPS_HOT
#endif

#ifdef DPS_VN
#define DPS_VEC 1
#define DPS_NQ (8 / DPS_VN)
typedef double dps_vn __attribute__((vector_size(DPS_VN * 8)));
typedef int64_t dps_in __attribute__((vector_size(DPS_VN * 8)));
typedef uint64_t dps_un __attribute__((vector_size(DPS_VN * 8)));
typedef struct { dps_vn q[DPS_NQ]; } dps_v8;
typedef struct { dps_in q[DPS_NQ]; } dps_i8;

DPS_INLINE dps_v8 dps_ld(const double *p) {
    dps_v8 r;
    for (int q = 0; q < DPS_NQ; q++) memcpy(&r.q[q], p + q * DPS_VN, sizeof r.q[q]);
    return r;
}
DPS_INLINE void dps_st(double *p, dps_v8 v) {
    for (int q = 0; q < DPS_NQ; q++) memcpy(p + q * DPS_VN, &v.q[q], sizeof v.q[q]);
}
/* the 16 lanes of a reduction (lanes 0-7 in lo, 8-15 in hi) into s, for dps_tree, when a row's
 * remainder (k < K) is to be added to them there; otherwise DPS_TREE takes them from the registers
 * and s is not read (twelve stores saved in a von Mises update) */
DPS_INLINE void dps_st16(double *s, dps_v8 lo, dps_v8 hi, int k, int K) {
    if (k < K) {
        dps_st(s, lo);
        dps_st(s + 8, hi);
    }
}
/* a store that bypasses the caches when p is 64-byte aligned (the new state, written once and read
 * only in the next step: no read-for-ownership of its lines); the values stored are the same */
DPS_INLINE void dps_st_stream(double *p, dps_v8 v, int aligned) {
#if defined(__x86_64__)
    if (aligned) { /* one store per native vector: a whole cache line at once with AVX-512 (a line
                    * written in 16-byte pieces waited in a write-combining buffer: 9 % of signed-residual) */
#if DPS_VN == 8
        _mm512_stream_pd(p, (__m512d)v.q[0]);
#elif DPS_VN == 4
        for (int q = 0; q < DPS_NQ; q++) _mm256_stream_pd(p + 4 * q, (__m256d)v.q[q]);
#else
        for (int q = 0; q < DPS_NQ; q++) _mm_stream_pd(p + 2 * q, (__m128d)v.q[q]);
#endif
        return;
    }
#endif
    (void)aligned;
    dps_st(p, v);
}
DPS_INLINE dps_v8 dps_add(dps_v8 a, dps_v8 b) {
    for (int q = 0; q < DPS_NQ; q++) a.q[q] = a.q[q] + b.q[q];
    return a;
}
DPS_INLINE dps_v8 dps_sub(dps_v8 a, dps_v8 b) {
    for (int q = 0; q < DPS_NQ; q++) a.q[q] = a.q[q] - b.q[q];
    return a;
}
DPS_INLINE dps_v8 dps_mul(dps_v8 a, dps_v8 b) {
    for (int q = 0; q < DPS_NQ; q++) a.q[q] = a.q[q] * b.q[q];
    return a;
}
/* s a */
DPS_INLINE dps_v8 dps_scale(double s, dps_v8 a) {
    for (int q = 0; q < DPS_NQ; q++) a.q[q] = s * a.q[q];
    return a;
}
/* x > m ? x : m and x < m ? x : m, lane by lane (m where either is NaN): x86's MAXPD and MINPD
 * are exactly these, with a latency of one or two cycles where a comparison and a blend take
 * several (a running maximum is a chain of them) */
DPS_INLINE dps_vn dps_vmax(dps_vn x, dps_vn m) {
#if defined(__x86_64__) && DPS_VN == 8
    return (dps_vn)_mm512_max_pd((__m512d)x, (__m512d)m);
#elif defined(__x86_64__) && DPS_VN == 4
    return (dps_vn)_mm256_max_pd((__m256d)x, (__m256d)m);
#elif defined(__x86_64__)
    return (dps_vn)_mm_max_pd((__m128d)x, (__m128d)m);
#else
    dps_in t = x > m;
    return (dps_vn)(((dps_in)x & t) | ((dps_in)m & ~t));
#endif
}
DPS_INLINE dps_vn dps_vmin(dps_vn x, dps_vn m) {
#if defined(__x86_64__) && DPS_VN == 8
    return (dps_vn)_mm512_min_pd((__m512d)x, (__m512d)m);
#elif defined(__x86_64__) && DPS_VN == 4
    return (dps_vn)_mm256_min_pd((__m256d)x, (__m256d)m);
#elif defined(__x86_64__)
    return (dps_vn)_mm_min_pd((__m128d)x, (__m128d)m);
#else
    dps_in t = x < m;
    return (dps_vn)(((dps_in)x & t) | ((dps_in)m & ~t));
#endif
}
/* |x| lane by lane: the sign bit cleared */
DPS_INLINE dps_vn dps_vabs(dps_vn x) {
    return (dps_vn)((dps_un)x & 0x7fffffffffffffffu);
}
/* x where x > m, else m (m where x is NaN), lane by lane */
DPS_INLINE dps_v8 dps_larger(dps_v8 x, dps_v8 m) {
    for (int q = 0; q < DPS_NQ; q++) m.q[q] = dps_vmax(x.q[q], m.q[q]);
    return m;
}
/* x where x < m, else m, lane by lane */
DPS_INLINE dps_v8 dps_smaller(dps_v8 x, dps_v8 m) {
    for (int q = 0; q < DPS_NQ; q++) m.q[q] = dps_vmin(x.q[q], m.q[q]);
    return m;
}
/* the largest |d| so far in *m and whether a d was NaN in *nan, lane by lane */
DPS_INLINE void dps_track(dps_v8 d, dps_v8 *m, dps_i8 *nan) {
    for (int q = 0; q < DPS_NQ; q++) {
        dps_vn a = dps_vabs(d.q[q]);
        m->q[q] = dps_vmax(a, m->q[q]);
        nan->q[q] |= a != a;
    }
}
#if defined(__x86_64__)
/* x OP y lane by lane for OP = DPS_PLUS (0), DPS_MAX (1: x > y ? x : y, MAXPD) or DPS_MIN (2) */
#define DPS_OP(W, op, x, y) ((op) == 0 ? _mm##W##_add_pd(x, y) : (op) == 1 ? _mm##W##_max_pd(x, y) : _mm##W##_min_pd(x, y))
#endif
/* DPS_FOLD8(OP, lane of a): with x86 vectors as three operations on halves, lanes j and j + 4, then
 * j and j + 2, then 0 and 1 (the same operations in the same order; GCC spelt it out lane by lane) */
DPS_INLINE double dps_fold8(dps_v8 a, int op) {
#if defined(__x86_64__)
#if DPS_VN == 8
    __m256d b = DPS_OP(256, op, _mm512_castpd512_pd256((__m512d)a.q[0]), _mm512_extractf64x4_pd((__m512d)a.q[0], 1));
#elif DPS_VN == 4
    __m256d b = DPS_OP(256, op, (__m256d)a.q[0], (__m256d)a.q[1]);
#endif
#if DPS_VN >= 4
    __m128d c = DPS_OP(, op, _mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
#else
    __m128d c = DPS_OP(, op, DPS_OP(, op, (__m128d)a.q[0], (__m128d)a.q[2]), DPS_OP(, op, (__m128d)a.q[1], (__m128d)a.q[3]));
#endif
    return _mm_cvtsd_f64(DPS_OP(, op, c, _mm_unpackhi_pd(c, c)));
#else
#define DPS_A(j) a.q[(j) / DPS_VN][(j) % DPS_VN]
#define DPS_MAX(x, y) ((x) > (y) ? (x) : (y))
#define DPS_MIN(x, y) ((x) < (y) ? (x) : (y))
    return op == 0 ? DPS_FOLD8(DPS_PLUS, DPS_A) : op == 1 ? DPS_FOLD8(DPS_MAX, DPS_A) : DPS_FOLD8(DPS_MIN, DPS_A);
#undef DPS_MIN
#undef DPS_MAX
#undef DPS_A
#endif
}
/* whether any lane of a comparison's result (all ones or all zeros per lane) is true */
DPS_INLINE int dps_any(dps_in x) {
#if defined(__x86_64__) && DPS_VN == 8
    return _mm512_test_epi64_mask((__m512i)x, (__m512i)x) != 0;
#elif defined(__x86_64__) && DPS_VN == 4
    return _mm256_movemask_pd((__m256d)x) != 0;
#elif defined(__x86_64__)
    return _mm_movemask_pd((__m128d)x) != 0;
#else
    int any = 0;
    for (int j = 0; j < DPS_VN; j++) any |= x[j] != 0;
    return any;
#endif
}
/* the lanes of dps_track combined: the largest (every lane >= +0, so any order of comparisons
 * gives the same), and *bad set if a lane saw NaN */
DPS_INLINE double dps_fold(dps_v8 m, dps_i8 nan, int *bad) {
    dps_in any = nan.q[0];
    for (int q = 1; q < DPS_NQ; q++) any |= nan.q[q];
    *bad |= dps_any(any);
    return dps_fold8(m, 1);
}
/* dps_exp_in_range on a native vector: the same operations lane by lane, so the same results;
 * the table entries by one two-register permutation with AVX-512 and a gather with AVX2 */
DPS_INLINE dps_vn dps_exp_vn(dps_vn x) {
    dps_vn t = x * DPS_EXP_K16 + DPS_EXP_SHIFTER;
    dps_vn n = t - DPS_EXP_SHIFTER;
    dps_vn r = (x - n * DPS_EXP_LN2_HI) - n * DPS_EXP_LN2_LO;
    dps_vn r2 = r * r, em1 = DPS_EXPM1_SMALL(r, r2), T;
    dps_un tb = (dps_un)t;
#if defined(__x86_64__) && DPS_VN == 8
    __m512d lo = _mm512_loadu_pd((const double *)dps_exp_bits), hi = _mm512_loadu_pd((const double *)dps_exp_bits + 8);
    T = (dps_vn)_mm512_permutex2var_pd(lo, (__m512i)tb, hi); /* entry tb & 15 */
#elif defined(__x86_64__) && DPS_VN == 4
    T = (dps_vn)_mm256_i64gather_pd((const double *)dps_exp_bits, (__m256i)(tb & 15), 8);
#else
    for (int j = 0; j < DPS_VN; j++) memcpy((double *)&T + j, dps_exp_bits + (tb[j] & 15), 8);
#endif
    T = (dps_vn)((dps_un)T + (tb << 48));
    return T + T * em1;
}
/* dps_tree of 16 lanes held in registers (lo: lanes 0-7, hi: 8-15), the same additions in the same
 * order, without the round trip through memory (a sixth of a von Mises update's time) */
DPS_INLINE double dps_tree16(dps_v8 lo, dps_v8 hi) {
    return dps_fold8(dps_add(lo, hi), 0);
}
/* a reduction's value: from the registers (lo, hi) unless a row's remainder (k < K) was added to
 * their copy in s */
#define DPS_TREE(s, lo, hi, k, K) ((k) < (K) ? dps_tree(s) : dps_tree16(lo, hi))
#else
#define DPS_TREE(s, lo, hi, k, K) dps_tree(s)
#endif

DPS_INLINE double dps_sum(const double *restrict a, int K) {
    double s[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 s0 = {0}, s1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        s0 = dps_add(s0, dps_ld(a + k));
        s1 = dps_add(s1, dps_ld(a + k + 8));
    }
    dps_st16(s, s0, s1, k, K);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) s[j] += a[k + j];
#endif
    for (int j = 0; k + j < K; j++) s[j] += a[k + j];
    return DPS_TREE(s, s0, s1, k, K);
}

DPS_INLINE double dps_dot(const double *restrict a, const double *restrict b, int K) {
    double s[DPS_LANES] = {0};
    int k = 0;
#ifdef DPS_VEC
    dps_v8 s0 = {0}, s1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        s0 = dps_add(s0, dps_mul(dps_ld(a + k), dps_ld(b + k)));
        s1 = dps_add(s1, dps_mul(dps_ld(a + k + 8), dps_ld(b + k + 8)));
    }
    dps_st16(s, s0, s1, k, K);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) s[j] += a[k + j] * b[k + j];
#endif
    for (int j = 0; k + j < K; j++) s[j] += a[k + j] * b[k + j];
    return DPS_TREE(s, s0, s1, k, K);
}

/* max_k |a_k - b_k|, NaN if any difference is NaN (so the engine sees a non-finite step); the
 * result is the same for any order of comparisons */
DPS_INLINE double dps_absdiff_max(const double *restrict a, const double *restrict b, int K) {
    double m = 0.0;
    int bad = 0, k = 0;
#ifdef DPS_VEC
    dps_v8 m0 = {0};
    dps_i8 nan0 = {0};
    for (; k + 8 <= K; k += 8) dps_track(dps_sub(dps_ld(a + k), dps_ld(b + k)), &m0, &nan0);
    m = dps_fold(m0, nan0, &bad);
#endif
    for (; k < K; k++) {
        double d = fabs(a[k] - b[k]);
        m = d > m ? d : m;
        bad |= !(d == d);
    }
    return bad ? NAN : m;
}

/* the largest entry, and the smallest in *lo (any NaN makes the caller's row NaN, whatever these are;
 * the order of comparisons can only change the sign of a zero largest entry, and L - (+0) and
 * L - (-0) have the same exponential). Two chains of comparisons and a tree over the lanes: this
 * is the start of a softmax row's critical path. */
DPS_INLINE double dps_max_min(const double *restrict a, int K, double *lo) {
    double m = a[0], l = a[0];
    int k = 0;
#ifdef DPS_VEC
    if (K >= 16) {
        dps_v8 m0 = dps_ld(a), m1 = dps_ld(a + 8), l0 = m0, l1 = m1;
        for (k = 16; k + 16 <= K; k += 16) {
            dps_v8 x = dps_ld(a + k), y = dps_ld(a + k + 8);
            m0 = dps_larger(x, m0);
            m1 = dps_larger(y, m1);
            l0 = dps_smaller(x, l0);
            l1 = dps_smaller(y, l1);
        }
        if (k + 8 <= K) {
            dps_v8 x = dps_ld(a + k);
            m0 = dps_larger(x, m0);
            l0 = dps_smaller(x, l0);
            k += 8;
        }
        m = dps_fold8(dps_larger(m1, m0), 1);
        l = dps_fold8(dps_smaller(l1, l0), 2);
    }
#endif
    for (; k < K; k++) {
        m = a[k] > m ? a[k] : m;
        l = a[k] < l ? a[k] : l;
    }
    *lo = l;
    return m;
}

#ifdef DPS_VEC
/* blocks of DPS_MIX_V dps_v8 (8 DPS_MIX_V tasks) held in registers: the mixing's sums while the
 * neighbours' rows stream past, a profile row's exponentials; half the vector registers (32 for
 * AVX-512, 16 otherwise) */
#if DPS_VN >= 8
#define DPS_MIX_V 8
#elif DPS_VN == 4
#define DPS_MIX_V 4
#else
#define DPS_MIX_V 2
#endif
#endif

/* ---- produce --------------------------------------------------------------------------- */

/* S = S / sum(S) (one division per row, not per entry) */
DPS_INLINE void dps_normalise(double *restrict S, int K) {
    double inv = 1.0 / dps_sum(S, K);
    for (int k = 0; k < K; k++) S[k] = S[k] * inv;
}

/* The profiles as exponentials normalised: exp(L_k - top) (softmax, L not NULL) or
 * exp(kappa (cos(x_k - mu) - 1)) (von Mises; cm, sm: cos mu, sin mu), every argument within the
 * range of dps_exp_in_range. */
#ifdef DPS_VEC
DPS_INLINE dps_v8 dps_profile_block(const double *restrict L, double top, const double *restrict cx,
                                    const double *restrict sx, double cm, double sm, double kappa, int k) {
    dps_v8 a;
    if (L) {
        a = dps_ld(L + k);
        for (int q = 0; q < DPS_NQ; q++) a.q[q] = dps_exp_vn(a.q[q] - top);
    } else {
        dps_v8 s = dps_ld(sx + k);
        a = dps_ld(cx + k);
        for (int q = 0; q < DPS_NQ; q++) a.q[q] = dps_exp_vn(kappa * ((a.q[q] * cm + s.q[q] * sm) - 1.0));
    }
    return a;
}
#endif
DPS_INLINE void dps_profile_exp(const double *restrict L, double top, const double *restrict cx,
                                const double *restrict sx, double cm, double sm, double kappa, double *restrict S,
                                int K) {
#ifdef DPS_VEC
    if (K % 16 == 0 && K <= 8 * DPS_MIX_V) {
        /* a row of at most one block (see the mixing) stays in registers: summed as it is computed,
         * in dps_sum's order (blocks alternately into two sums), and stored once, normalised */
        dps_v8 e[DPS_MIX_V], s0 = {0}, s1 = {0};
#pragma GCC unroll 8
        for (int b = 0; b < DPS_MIX_V; b++)
            if (8 * b < K) {
                e[b] = dps_profile_block(L, top, cx, sx, cm, sm, kappa, 8 * b);
                if (b % 2) s1 = dps_add(s1, e[b]);
                else s0 = dps_add(s0, e[b]);
            }
        double inv = 1.0 / dps_tree16(s0, s1);
#pragma GCC unroll 8
        for (int b = 0; b < DPS_MIX_V; b++)
            if (8 * b < K) dps_st(S + 8 * b, dps_scale(inv, e[b]));
        return;
    }
#endif
    int k = 0;
#ifdef DPS_VEC
    for (; k + 8 <= K; k += 8) dps_st(S + k, dps_profile_block(L, top, cx, sx, cm, sm, kappa, k));
#endif
    for (; k < K; k++)
        S[k] = dps_exp_in_range(L ? L[k] - top : kappa * ((cx[k] * cm + sx[k] * sm) - 1.0));
    dps_normalise(S, K);
}

DPS_HOT static void dps_softmax_row(const double *restrict L, double *restrict S, int K) {
    double lo, top = dps_max_min(L, K, &lo);
    if (top - lo <= 708.0) { /* every L_k - top in [-708, 0] (false with a NaN or an infinity) */
        dps_profile_exp(L, top, NULL, NULL, 0.0, 0.0, 0.0, S, K);
    } else {
        for (int k = 0; k < K; k++) S[k] = dps_exp(L[k] - top);
        dps_normalise(S, K);
    }
}

/* cos(x_k - mu) = cos x_k cos mu + sin x_k sin mu (cm, sm: cos mu, sin mu): no trigonometry per task */
DPS_HOT static void dps_vonmises_row(double cm, double sm, double kappa, const double *restrict cx,
                                     const double *restrict sx, double *restrict S, int K) {
    /* the argument is kappa (cos(x_k - mu) - 1), within [-2.001 |kappa|, 0.001 |kappa|] */
    if (fabs(kappa) <= 350.0) {
        dps_profile_exp(NULL, 0.0, cx, sx, cm, sm, kappa, S, K);
    } else {
        for (int k = 0; k < K; k++) S[k] = dps_exp(kappa * ((cx[k] * cm + sx[k] * sm) - 1.0));
        dps_normalise(S, K);
    }
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
 * from the profiles S without ever being stored (alpha = 1, capabilities all ones). With a row
 * `minus` (not NULL) the row written is minus - the mixed row: the residual and interaction
 * signals D - z without storing z and reading it back. */

#ifdef DPS_VEC
/* the block of the mixed row at k, or of minus - the mixed row */
DPS_INLINE void dps_st_mixed(double *out, const double *minus, int64_t k, dps_v8 acc) {
    dps_st(out + k, minus ? dps_sub(dps_ld(minus + k), acc) : acc);
}
/* the blocks of DPS_MIX_V dps_v8 of a CSR row from k0 on, the neighbours looked up in each; returns
 * where they end */
DPS_INLINE int dps_mix_blocks(double ai, double gamma, const int64_t *indices, const double *data,
                              const double *X, const dps_ring *rg, const double *v, int64_t lo, int64_t hi,
                              const double *xi, int K, int k0, const double *minus, double *restrict out) {
    for (; k0 + 8 * DPS_MIX_V <= K; k0 += 8 * DPS_MIX_V) {
        dps_v8 acc[DPS_MIX_V];
        for (int q = 0; q < DPS_MIX_V; q++) acc[q] = dps_scale(ai, dps_ld(xi + k0 + 8 * q));
        for (int64_t e = lo; e < hi; e++) {
            int64_t jn = indices[e];
            const double *xj = dps_opaque(dps_row(X, rg, jn, K) + k0);
            double we = v ? gamma * data[e] * v[jn] : gamma * data[e];
            for (int q = 0; q < DPS_MIX_V; q++) acc[q] = dps_add(acc[q], dps_scale(we, dps_ld(xj + 8 * q)));
        }
        for (int q = 0; q < DPS_MIX_V; q++) dps_st_mixed(out, minus, k0 + 8 * q, acc[q]);
    }
    return k0;
}
#endif

DPS_HOT static void dps_mix_row(int csr, double a, double b, double gamma, const int64_t *indptr,
                                const int64_t *indices, const double *data, const double *X, const dps_ring *rg,
                                const double *v, const double *colsum, int64_t i, int K, const double *minus,
                                double *restrict out) {
    const double *xi = dps_row(X, rg, i, K);
    double ai = v ? a * v[i] : a;
    if (csr) {
        /* each output entry is loaded and stored once per block, not once per edge (the same
         * additions in the same order: edge by edge after a_i x_i) */
        int64_t lo = indptr[i], hi = indptr[i + 1];
        int k0 = 0;
#ifdef DPS_VEC
        /* with two blocks or more, the neighbours' rows and weights looked up once, not once per
         * block (a row of one block looks them up in its loop: 3-9 % faster than through arrays) */
        if (hi - lo <= 32 && K >= 16 * DPS_MIX_V) {
            const double *rp[32];
            double wt[32];
            int deg = (int)(hi - lo);
            for (int e = 0; e < deg; e++) {
                int64_t jn = indices[lo + e];
                rp[e] = dps_row(X, rg, jn, K);
                wt[e] = v ? gamma * data[lo + e] * v[jn] : gamma * data[lo + e];
            }
            for (; k0 + 8 * DPS_MIX_V <= K; k0 += 8 * DPS_MIX_V) {
                dps_v8 acc[DPS_MIX_V];
                for (int q = 0; q < DPS_MIX_V; q++) acc[q] = dps_scale(ai, dps_ld(xi + k0 + 8 * q));
                for (int e = 0; e < deg; e++)
                    for (int q = 0; q < DPS_MIX_V; q++)
                        acc[q] = dps_add(acc[q], dps_scale(wt[e], dps_ld(dps_opaque(rp[e] + k0) + 8 * q)));
                for (int q = 0; q < DPS_MIX_V; q++) dps_st_mixed(out, minus, k0 + 8 * q, acc[q]);
            }
        }
        /* a copy of the loop for each of rows in a ring or not, scaled or not: no tests per edge */
        if (rg && v) k0 = dps_mix_blocks(ai, gamma, indices, data, X, rg, v, lo, hi, xi, K, k0, minus, out);
        else if (rg) k0 = dps_mix_blocks(ai, gamma, indices, data, X, rg, NULL, lo, hi, xi, K, k0, minus, out);
        else if (v) k0 = dps_mix_blocks(ai, gamma, indices, data, X, NULL, v, lo, hi, xi, K, k0, minus, out);
        else k0 = dps_mix_blocks(ai, gamma, indices, data, X, NULL, NULL, lo, hi, xi, K, k0, minus, out);
        for (; k0 + 8 <= K; k0 += 8) {
            dps_v8 acc = dps_scale(ai, dps_ld(xi + k0));
            for (int64_t e = lo; e < hi; e++) {
                int64_t jn = indices[e];
                double we = v ? gamma * data[e] * v[jn] : gamma * data[e];
                acc = dps_add(acc, dps_scale(we, dps_ld(dps_row(X, rg, jn, K) + k0)));
            }
            dps_st_mixed(out, minus, k0, acc);
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
            if (minus) for (int k = k0; k < K; k++) out[k] = minus[k] - out[k];
        }
    } else {
        for (int k = 0; k < K; k++) out[k] = ai * xi[k] + b * colsum[k];
        if (minus) for (int k = 0; k < K; k++) out[k] = minus[k] - out[k];
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
        /* the row as if every argument |(z_k - D_k) rt| <= 708 needed no clamping, checked on the way
         * (NaN fails); where one does, the row again with the clamping exponential */
        int k = 0, bad = 0;
#ifdef DPS_VEC
        dps_in far = {0};
        for (; k + 8 <= K; k += 8) {
            dps_v8 a = dps_ld(z + k), d = dps_ld(D + k);
            for (int q = 0; q < DPS_NQ; q++) {
                dps_vn u = (a.q[q] - d.q[q]) * rt;
                far |= ~(dps_in)(dps_vabs(u) <= 708.0);
                a.q[q] = 1.0 / (1.0 + dps_exp_vn(u));
            }
            dps_st(G + k, a);
        }
        bad = dps_any(far);
#endif
        for (; k < K; k++) {
            double u = (z[k] - D[k]) * rt;
            bad |= !(fabs(u) <= 708.0);
            G[k] = 1.0 / (1.0 + dps_exp_in_range(u));
        }
        if (bad)
            for (k = 0; k < K; k++) G[k] = 1.0 / (1.0 + dps_exp((z[k] - D[k]) * rt));
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
        dps_v8 a0 = dps_mul(dps_scale(alpha, h0), dps_scale(w, s0));
        dps_v8 a1 = dps_mul(dps_scale(alpha, h1), dps_scale(w, s1));
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        g0 = dps_add(g0, dps_mul(h0, s0));
        g1 = dps_add(g1, dps_mul(h1, s1));
        t0 = dps_add(t0, a0);
        t1 = dps_add(t1, a1);
    }
    dps_st16(sg, g0, g1, k, K);
    dps_st16(st, t0, t1, k, K);
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
    *gw = DPS_TREE(sg, g0, g1, k, K);
    double tsum = DPS_TREE(st, t0, t1, k, K);
    double m = 0.0;
    int bad = 0;
    k = 0;
#ifdef DPS_VEC
    if (step != 0.0) {
        int aligned = ((uintptr_t)out & 63) == 0;
        dps_v8 m0 = {0};
        dps_i8 nan0 = {0};
        for (; k + 8 <= K; k += 8) {
            dps_v8 p = dps_ld(P + k);
            dps_v8 o = dps_add(p, dps_scale(step, dps_sub(dps_ld(T + k), dps_scale(tsum, dps_ld(S + k)))));
            if (xi) o = dps_add(o, dps_scale(ns, dps_ld(xi + k)));
            dps_st_stream(out + k, o, aligned);
            dps_track(dps_sub(o, p), &m0, &nan0);
        }
        m = dps_fold(m0, nan0, &bad);
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
        dps_v8 a0 = dps_scale(w, h0), a1 = dps_scale(w, h1);
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        g0 = dps_add(g0, dps_mul(h0, p0));
        g1 = dps_add(g1, dps_mul(h1, p1));
        d0 = dps_add(d0, dps_mul(a0, p0));
        d1 = dps_add(d1, dps_mul(a1, p1));
    }
    dps_st16(sg, g0, g1, k, K);
    dps_st16(sd, d0, d1, k, K);
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
    *gw = DPS_TREE(sg, g0, g1, k, K);
    double dot = DPS_TREE(sd, d0, d1, k, K);
    /* the new atoms before normalisation, in T (hot in L1), and their squared norm in the same
     * sweep (the lanes and the order of dps_dot) */
    double sn[DPS_LANES] = {0};
    k = 0;
#ifdef DPS_VEC
    dps_v8 n0 = {0}, n1 = {0};
    for (; k + DPS_LANES <= K; k += DPS_LANES) {
        dps_v8 p0 = dps_ld(P + k), p1 = dps_ld(P + k + 8), a0 = p0, a1 = p1;
        if (step != 0.0) {
            a0 = dps_add(p0, dps_scale(step, dps_sub(dps_ld(T + k), dps_scale(dot, p0))));
            a1 = dps_add(p1, dps_scale(step, dps_sub(dps_ld(T + k + 8), dps_scale(dot, p1))));
        }
        if (xi) {
            a0 = dps_add(a0, dps_scale(ns, dps_ld(xi + k)));
            a1 = dps_add(a1, dps_scale(ns, dps_ld(xi + k + 8)));
        }
        dps_st(T + k, a0);
        dps_st(T + k + 8, a1);
        n0 = dps_add(n0, dps_mul(a0, a0));
        n1 = dps_add(n1, dps_mul(a1, a1));
    }
    dps_st16(sn, n0, n1, k, K);
#else
    for (; k + DPS_LANES <= K; k += DPS_LANES)
        for (int j = 0; j < DPS_LANES; j++) {
            double a = step != 0.0 ? P[k + j] + step * (T[k + j] - dot * P[k + j]) : P[k + j];
            if (xi) a = a + ns * xi[k + j];
            T[k + j] = a;
            sn[j] += a * a;
        }
#endif
    for (int j = 0; k + j < K; j++) {
        double a = step != 0.0 ? P[k + j] + step * (T[k + j] - dot * P[k + j]) : P[k + j];
        if (xi) a = a + ns * xi[k + j];
        T[k + j] = a;
        sn[j] += a * a;
    }
    double nrm = sqrt(DPS_TREE(sn, n0, n1, k, K));
    if (!(nrm > 0)) nrm = 1.0;
    double inv = 1.0 / nrm;
    double m = 0.0;
    int bad = 0;
    k = 0;
#ifdef DPS_VEC
    int aligned = ((uintptr_t)out & 63) == 0;
    dps_v8 m0 = {0};
    dps_i8 nan0 = {0};
    for (; k + 8 <= K; k += 8) {
        dps_v8 o = dps_scale(inv, dps_ld(T + k));
        dps_st_stream(out + k, o, aligned);
        dps_track(dps_sub(o, dps_ld(P + k)), &m0, &nan0);
    }
    m = dps_fold(m0, nan0, &bad);
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
        dps_v8 a0 = dps_mul(dps_scale(alpha, h0), dps_scale(w, e0));
        dps_v8 a1 = dps_mul(dps_scale(alpha, h1), dps_scale(w, e1));
        g0 = dps_add(g0, dps_mul(h0, e0));
        g1 = dps_add(g1, dps_mul(h1, e1));
        t0 = dps_add(t0, a0);
        t1 = dps_add(t1, a1);
        c0 = dps_add(c0, dps_mul(e0, x0));
        c1 = dps_add(c1, dps_mul(e1, x1));
        s0 = dps_add(s0, dps_mul(e0, y0));
        s1 = dps_add(s1, dps_mul(e1, y1));
        u0 = dps_add(u0, dps_mul(a0, x0));
        u1 = dps_add(u1, dps_mul(a1, x1));
        v0 = dps_add(v0, dps_mul(a0, y0));
        v1 = dps_add(v1, dps_mul(a1, y1));
    }
    dps_st16(sg, g0, g1, k, K);
    dps_st16(st, t0, t1, k, K);
    dps_st16(sc, c0, c1, k, K);
    dps_st16(ss, s0, s1, k, K);
    dps_st16(tc, u0, u1, k, K);
    dps_st16(ts, v0, v1, k, K);
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
    *gw = DPS_TREE(sg, g0, g1, k, K);
    return dps_vonmises_move(mu, kappa, cm, sm, DPS_TREE(sc, c0, c1, k, K), DPS_TREE(ss, s0, s1, k, K),
                             DPS_TREE(tc, u0, u1, k, K), DPS_TREE(ts, v0, v1, k, K), DPS_TREE(st, t0, t1, k, K),
                             step, step_k, xi, ns, kmin, kmax, mu_out, kappa_out);
}

#undef DPS_HOT
#undef DPS_VEC
#undef DPS_NQ
#undef DPS_MIX_V
#undef DPS_VN
#undef DPS_SUFFIX
#undef dps_vn
#undef dps_in
#undef dps_v8
#undef dps_i8
#undef dps_ld
#undef dps_st
#undef dps_st16
#undef dps_tree16
#undef DPS_TREE
#undef dps_st_stream
#undef dps_add
#undef dps_sub
#undef dps_mul
#undef dps_scale
#undef dps_vabs
#undef dps_vmax
#undef dps_vmin
#undef dps_larger
#undef dps_smaller
#undef dps_track
#undef dps_fold8
#undef dps_any
#undef dps_fold
#undef DPS_OP
#undef dps_sum
#undef dps_dot
#undef dps_absdiff_max
#undef dps_max_min
#undef dps_normalise
#undef dps_profile_block
#undef dps_profile_exp
#undef dps_softmax_row
#undef dps_vonmises_row
#undef dps_produce_row
#undef dps_st_mixed
#undef dps_mix_blocks
#undef dps_mix_row
#undef dps_coverage_row
#undef dps_residual_row
#undef dps_price_row
#undef dps_drive_row
#undef dps_ascend_free
#undef dps_ascend_signed
#undef dps_update_free
#undef dps_update_signed
#undef dps_ascend_vonmises
#undef dps_update_vonmises
