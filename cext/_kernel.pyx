# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled inner loop of the built-in step (dps_core/compiled.py drives it).

Three fused passes over contiguous float64 arrays, each a `prange` over agents without the GIL;
the per-row arithmetic is in dps_rows.h (plain C over raw pointers, so it vectorises):

1. produce:        S_i from the profile parameters, Y_i = w_i C_i S_i^alpha
2. gather_signal:  Z_i = (M Y)_i in a thread-local row, then G_i (and new prices) from it
3. update:         H_i = (M^T G)_i in a thread-local row (scatter through the precomputed
                   transpose), then the mode's update of agent i, learning by doing, and the
                   largest change of agent i's arrays

For CSR graphs of small cyclic bandwidth (rings, lattices) `fused` runs the three passes as one
over tiles of agents, with S, Y and G in per-thread ring buffers (same arithmetic, same results).

Sums over agents (column sums for the complete graph and the mean field) are taken in fixed
blocks of 256 rows combined in a fixed order, so results are bit-identical for any thread count.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport exp, fabs, log, pow, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cdef extern from "stdlib.h" nogil:
    void* aligned_alloc(size_t alignment, size_t size)

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static void dps_set_threads(int n) { omp_set_num_threads(n); }
    static int dps_get_threads(void) { return omp_get_max_threads(); }
    static int dps_openmp(void) { return 1; }
    #else
    static void dps_set_threads(int n) { (void)n; }
    static int dps_get_threads(void) { return 1; }
    static int dps_openmp(void) { return 0; }
    #endif
    """
    void dps_set_threads(int n) nogil
    int dps_get_threads() nogil
    int dps_openmp() nogil

cdef extern from "dps_rows.h" nogil:
    ctypedef struct dps_ring:
        const double* base
        int64_t shift
        int64_t span
        int64_t n
        int64_t mask
    int DPS_ARITHMETIC
    const char* dps_isa()
    const char* dps_isa_name(int i)
    int dps_cpu_runs(int i)
    int dps_select_isa(const char* name)
    double dps_nanmax(double m, double d)
    void dps_sincos(double x, double* s, double* c)
    void dps_sincos2(double x0, double x1, double* cs0, double* cs1)
    void dps_sfence()
    double dps_wrap(double v)
    void dps_softmax_row(const double* L, double* S, int K)
    void dps_vonmises_row(double cm, double sm, double kappa, const double* cx, const double* sx, double* S, int K)
    void dps_produce_row(double w, const double* C, const double* S, double* Y, double alpha, int K)
    void dps_prefetch_row(const double* p, int K)
    void dps_mix_row(int csr, double a, double b, double gamma, const int64_t* indptr, const int64_t* indices,
                     const double* data, const double* X, const dps_ring* rg, const double* v, const double* colsum,
                     int64_t i, int K, const double* minus, double* out)
    void dps_coverage_row(const double* D, const double* z, double tau, double* G, int K)
    void dps_residual_row(const double* D, const double* z, double* G, int K)
    void dps_price_row(const double* D, const double* z, const double* p, int additive, double step, double scale,
                       double p_min, double* G, double* p_new, int K)
    void dps_ces_row(const double* D, double* z, double rho, double floor, double* G, int K)
    double dps_drive_row(const double* h, const double* S, const double* Y, const double* C, double w, double alpha,
                         int signed_family, double lam_s, double* T, double* q, double* tsum, int K)
    double dps_update_free(const double* h, const double* S, const double* P, double w, double alpha, double step,
                           const double* xi, double ns, double* T, double* out, double* gw, int K)
    double dps_update_signed(const double* h, const double* P, double w, double step, const double* xi, double ns,
                             double* T, double* out, double* gw, int K)
    double dps_ascend_free(const double* P, const double* S, const double* T, double tsum, double step,
                           const double* xi, double ns, double* out, int K)
    double dps_ascend_signed(const double* P, const double* T, double step, const double* xi, double ns,
                             double* out, int K)
    double dps_ascend_vonmises(double mu, double kappa, double cm, double sm, const double* cx, const double* sx,
                               const double* S, const double* T, double tsum, double step, double step_k,
                               const double* xi, double ns, double kmin, double kmax, double* mu_out,
                               double* kappa_out, int K)
    double dps_update_vonmises(const double* h, const double* S, double w, double alpha, double mu, double kappa,
                               double cm, double sm, const double* cx, const double* sx, double step, double step_k,
                               const double* xi, double ns, double kmin, double kmax, double* mu_out,
                               double* kappa_out, double* gw, int K)

DEF BLOCK = 256
DEF TINY = 1e-300

# codes shared with dps_core/compiled_binding.py
DEF FREE = 0
DEF VONMISES = 1
DEF SIGNED = 2
DEF COVERAGE = 0
DEF RESIDUAL = 1
DEF CES = 2
DEF PRICE = 3
DEF GRADIENT = 0
DEF REPLICATOR = 2
DEF LCA = 3
DEF IMITATION = 4
DEF TATONNEMENT = 5

DEF PREFETCH_ROWS = 8  # how far ahead the fused pass asks for the profile rows it streams

cdef struct StepParams:
    # which branch runs: codes of dps_core/compiled_binding.py
    int mode
    int family
    int signal
    # the model's constants
    double alpha
    double dt
    double lam_r              # penalty.resource
    double lam_c              # penalty.communication
    double lam_s              # penalty.specialisation
    bint learn                # learning by doing is on
    double learn_rate
    double forget
    double cmax
    double kappa_min          # von Mises concentration bounds (0 for other families)
    double kappa_max
    bint scatter              # the mode reads H = M^T G (else its own node's G)
    # the mode's parameters (fields the mode does not declare are 0 and never read)
    double eta
    double eta_kappa
    double eta_w
    double noise              # std per sqrt(time); the step's scale is noise * sqrt(dt)
    double tau
    double threshold
    bint hard
    bint nonneg
    double rate
    double beta
    double temperature
    # the signal's parameters
    double smoothing          # coverage: tau = smoothing * demand_scale
    double rho
    double floor
    double price_rate
    double p_min
    bint additive
    double self_interaction
    # this step's values
    double demand_scale       # mean positive demand
    bint has_noise            # noise draws were made and noise != 0
    bint store_y              # Y = w C S^alpha is stored (else the gather scales S by w)
    bint c_ones               # capabilities are all ones (C is never read)
    bint s_is_new             # the new logits overwrite S row by row


def param_fields():
    """The names of the fields of the parameter struct every kernel entry point takes."""
    cdef StepParams zero
    memset(&zero, 0, sizeof(zero))
    cdef dict d = zero
    return tuple(d)


cdef class Params:
    """One step's scalar parameters as the kernels read them, converted once from a dict whose keys
    are exactly `param_fields()` (a missing field is a ValueError naming it, and so is an extra one)."""

    cdef StepParams s

    def __init__(self, dict values):
        if len(values) != _N_FIELDS:
            extra = sorted(set(values) - set(_FIELDS))
            missing = sorted(set(_FIELDS) - set(values))
            raise ValueError(f"kernel parameters: unknown fields {extra}, missing fields {missing}")
        self.s = values


_FIELDS = param_fields()
_N_FIELDS = len(_FIELDS)


def set_num_threads(int n):
    """Threads used by the parallel loops (no-op without OpenMP)."""
    dps_set_threads(n)


def get_num_threads():
    """Threads the parallel loops will use."""
    return dps_get_threads()


def has_openmp():
    """True if the extension was built with OpenMP."""
    return bool(dps_openmp())


def isa():
    """The instruction set the row kernels run with: 'avx512f', 'x86-64-v3' ('avx2' when built with
    GCC < 12), 'x86-64 baseline', or 'portable C (no clones)' where the build has only one."""
    return dps_isa().decode()


def arithmetic():
    """The revision of the row kernels' arithmetic: raised by every change that alters any result,
    even by rounding, so that an archive knows whether a resume continues it bit for bit."""
    return DPS_ARITHMETIC


def isas():
    """The instruction sets this build has row kernels for, and this CPU runs, best first."""
    cdef int i = 0
    cdef list out = []
    while dps_isa_name(i) != NULL:
        if dps_cpu_runs(i):
            out.append(dps_isa_name(i).decode())
        i += 1
    return out


def set_isa(str name):
    """Run the row kernels compiled for `name` (one of `isas()`), e.g. to compare them or to match
    the instruction set an archive was written with. Not while a step runs."""
    cdef bytes b = name.encode()
    cdef int rc = dps_select_isa(b)
    if rc != 0:
        why = "this CPU does not run it" if rc == -2 else "no such instruction set in this build"
        raise ValueError(f"kernel instruction set {name!r}: {why}; this machine runs {', '.join(isas())}")


dps_select_isa(NULL)  # the best instruction set this CPU runs


cdef inline Py_ssize_t cyclic(Py_ssize_t r, Py_ssize_t n) noexcept nogil:
    """Row r of a ring of n rows, for r in [-n, 2n)."""
    return r + n if r < 0 else (r - n if r >= n else r)


cdef bint refuse_scratch = False  # tests: every scratch allocation fails (_refuse_scratch)


cdef inline double* rows(Py_ssize_t n, int K) noexcept nogil:
    """Scratch for n rows of K doubles, 64-byte aligned: a row then starts on a cache line whenever
    K is a multiple of 8, so no vector load or store of it straddles two lines (with malloc's
    16-byte alignment, steps of the benchmark configurations took 15-24 % longer). NULL if the
    memory is not there: the caller skips its work and raises (no_scratch)."""
    if refuse_scratch:
        return NULL
    return <double*> aligned_alloc(64, (n * K * sizeof(double) + 63) // 64 * 64)


def _refuse_scratch(bint on):
    """For tests: make every scratch allocation of the kernel fail (on) or work again (off)."""
    global refuse_scratch
    refuse_scratch = on


cdef int no_scratch(str where, Py_ssize_t nrows, int K) except -1:
    """A thread's scratch rows could not be allocated: the step stops with nothing of the state
    changed (the kernel writes only new arrays), in one clear line."""
    from dps_core.errors import ResourceError
    size = nrows * K * 8
    each = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
    raise ResourceError(
        f"compiled kernel ({where}): no memory for its scratch rows ({nrows} of K = {K} doubles, {each} "
        f"per thread); free memory, or run fewer threads (OMP_NUM_THREADS)"
    )


cdef inline double* ptr(double[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline double* ptr2(double[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline const int64_t* iptr(const int64_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


# --- 1. produce -------------------------------------------------------------------------------------


cdef inline void produce_row(int family, const double* P_row, double mu, double kappa, const double* cxp,
                             const double* sxp, double* S_row, bint store_y, double w, const double* C_row,
                             double* Y_row, double alpha, int K, double* cs) noexcept nogil:
    """S_i from agent i's profile parameters (S_row == P_row: signed atoms are their own profiles),
    and Y_i = w_i C_i S_i^alpha if store_y. von Mises: cos mu and sin mu from cs[0], cs[1] (computed
    beforehand), or computed when cs is NULL."""
    cdef int k
    cdef double cm, sm
    if family == FREE:
        dps_softmax_row(P_row, S_row, K)
    elif family == VONMISES:
        if cs == NULL:
            dps_sincos(mu, &sm, &cm)
        else:
            cm = cs[0]
            sm = cs[1]
        dps_vonmises_row(cm, sm, kappa, cxp, sxp, S_row, K)
    elif S_row != P_row:
        for k in range(K):
            S_row[k] = P_row[k]
    if store_y:
        dps_produce_row(w, C_row, S_row, Y_row, alpha, K)


def produce(Params prm, double[:, ::1] P, double[::1] mu, double[::1] kappa, double[::1] cx,
            double[::1] sx, double[::1] w, double[:, ::1] C, double[:, ::1] S, double[:, ::1] Y):
    """S from the profile parameters (P: logits or atoms; mu, kappa: von Mises, with the tasks'
    cosines cx and sines sx), and Y = w C S^alpha if store_y."""
    cdef int family = prm.s.family
    cdef double alpha = prm.s.alpha
    cdef bint c_ones = prm.s.c_ones, store_y = prm.s.store_y
    cdef Py_ssize_t n = S.shape[0], i
    cdef int K = <int> S.shape[1]
    cdef double* Pp = ptr2(P)
    cdef double* Sp = ptr2(S)
    cdef double* Yp = ptr2(Y)
    cdef double* Cp = NULL if c_ones else ptr2(C)
    cdef double* cxp = ptr(cx)
    cdef double* sxp = ptr(sx)
    cdef double* mup = ptr(mu)
    cdef double* kap = ptr(kappa)
    cdef double* wp = ptr(w)
    with nogil:
        for i in prange(n, schedule="static"):
            produce_row(family, NULL if family == VONMISES else Pp + i * K, mup[i] if family == VONMISES else 0.0,
                        kap[i] if family == VONMISES else 0.0, cxp, sxp, Sp + i * K, store_y,
                        wp[i] if store_y else 0.0, NULL if Cp == NULL else Cp + i * K,
                        Yp + i * K if store_y else NULL, alpha, K, NULL)


def colsum(double[:, ::1] X, double[::1] out, double[:, ::1] partial, double[::1] v):
    """Column sums of v_i X_i (v empty: of X) in fixed blocks of 256 rows combined in order
    (thread-count independent)."""
    cdef Py_ssize_t n = X.shape[0], K = X.shape[1], nb = partial.shape[0], b, i, k, lo, hi
    cdef bint scaled = v.shape[0] > 0
    with nogil:
        for b in prange(nb, schedule="static"):
            lo = b * BLOCK
            hi = lo + BLOCK
            if hi > n:
                hi = n
            for k in range(K):
                partial[b, k] = 0.0
            for i in range(lo, hi):
                if scaled:
                    for k in range(K):
                        partial[b, k] = partial[b, k] + v[i] * X[i, k]
                else:
                    for k in range(K):
                        partial[b, k] = partial[b, k] + X[i, k]
        for k in range(K):
            out[k] = 0.0
        for b in range(nb):
            for k in range(K):
                out[k] = out[k] + partial[b, k]


# --- 2. gather and signal -----------------------------------------------------------------------------


cdef struct Sig:
    # what the signal of one node reads besides its supply z
    int signal
    int K
    double tau
    double rho
    double floor
    int price_rule
    double price_step
    double scale
    double p_min
    const double* Dp
    Py_ssize_t dstride
    double* pp


cdef void fill_sig(Sig* g, Params prm, double[:, ::1] D, double[:, ::1] price, int K):
    g.signal = prm.s.signal
    g.K = K
    g.tau = prm.s.smoothing * prm.s.demand_scale
    g.rho = prm.s.rho
    g.floor = prm.s.floor
    g.price_rule = prm.s.additive
    g.price_step = prm.s.price_rate * prm.s.dt
    g.scale = prm.s.demand_scale
    g.p_min = prm.s.p_min
    g.Dp = &D[0, 0]
    g.dstride = K if D.shape[0] > 1 else 0
    g.pp = ptr2(price)


cdef inline const double* demand_row(const Sig* g, Py_ssize_t i) noexcept nogil:
    """Node i's demand row (one row shared by every node when the demand is uniform)."""
    return g.Dp + i * g.dstride


cdef inline void signal_row(const Sig* g, Py_ssize_t i, double* z, double* G_row, double* pn_row) noexcept nogil:
    """G_i from the supply z seen at node i (new prices in pn_row for the price signal)."""
    cdef int K = g.K
    cdef const double* Drow = demand_row(g, i)
    if g.signal == COVERAGE:
        dps_coverage_row(Drow, z, g.tau, G_row, K)
    elif g.signal == RESIDUAL:
        dps_residual_row(Drow, z, G_row, K)
    elif g.signal == PRICE:
        dps_price_row(Drow, z, g.pp + i * K, g.price_rule, g.price_step, g.scale, g.p_min, G_row, pn_row, K)
    elif g.signal == CES:
        dps_ces_row(Drow, z, g.rho, g.floor, G_row, K)


def gather_signal(bint csr, double[::1] a, double b, double gamma,
                  const int64_t[::1] indptr, const int64_t[::1] indices, const double[::1] data,
                  double[:, ::1] Y, double[::1] yscale, double[::1] colsumY, double[:, ::1] D, Params prm,
                  double[:, ::1] price, double[:, ::1] price_new,
                  double[:, ::1] G, double[:, ::1] Zout, bint store_z):
    """G = dU/dZ at every node from Z = M Y, computed row by row (Z stored only if asked).
    With yscale = w (not empty), Y holds the profiles S and production is w_j S_j."""
    cdef Py_ssize_t n = Y.shape[0], i, k
    cdef int K = <int> Y.shape[1]
    cdef Sig sg
    fill_sig(&sg, prm, D, price, K)
    cdef double* z
    cdef double* Gp = ptr2(G)
    cdef double* Zp = ptr2(Zout)
    cdef double* pn = ptr2(price_new)
    cdef const int64_t* ip = iptr(indptr)
    cdef const int64_t* ix = iptr(indices)
    cdef const double* dp = &data[0] if data.shape[0] > 0 else NULL
    cdef double* ap = ptr(a)
    cdef double* Yp = ptr2(Y)
    cdef double* vs = ptr(yscale)
    cdef double* cy = ptr(colsumY)
    cdef bint residual = sg.signal == RESIDUAL and not store_z  # G = D - z as the mixing stores z
    cdef int failed = 0
    cdef int* failed_p = &failed  # shared: written through a pointer from inside the parallel block
    with nogil, parallel():
        z = rows(1, K)
        if z == NULL:
            failed_p[0] = 1
        for i in prange(n, schedule="static"):
            if z == NULL:
                continue
            if residual:
                dps_mix_row(csr, ap[i], b, gamma, ip, ix, dp, Yp, NULL, vs, cy, i, K, demand_row(&sg, i), Gp + i * K)
                continue
            dps_mix_row(csr, ap[i], b, gamma, ip, ix, dp, Yp, NULL, vs, cy, i, K, NULL, z)
            if store_z:
                for k in range(K):
                    Zp[i * K + k] = z[k]
            signal_row(&sg, i, z, Gp + i * K, NULL if pn == NULL else pn + i * K)
        free(z)
    if failed:
        no_scratch("gather and signal", 1, K)


def interaction_signal(bint csr, Params prm, double[:, ::1] Z, double[::1] colsumZ,
                       const int64_t[::1] indptr, const int64_t[::1] indices, const double[::1] data,
                       double[:, ::1] D, double[:, ::1] G):
    """G = D - B Z with B = diag*I + A (CSR), or on the complete graph (diag - 1) Z + colsum(Z);
    diag is the signal's self_interaction."""
    cdef double diag = prm.s.self_interaction
    cdef Py_ssize_t n = Z.shape[0], i
    cdef int K = <int> Z.shape[1]
    cdef const double* Dp = &D[0, 0]
    cdef Py_ssize_t dstride = K if D.shape[0] > 1 else 0
    cdef const int64_t* ip = iptr(indptr)
    cdef const int64_t* ix = iptr(indices)
    cdef const double* dp = &data[0] if data.shape[0] > 0 else NULL
    cdef double* Zp = ptr2(Z)
    cdef double* cz = ptr(colsumZ)
    cdef double* Gp = ptr2(G)
    with nogil:
        for i in prange(n, schedule="static"):
            dps_mix_row(csr, diag if csr else diag - 1.0, 1.0, 1.0, ip, ix, dp, Zp, NULL, NULL, cz, i, K,
                        Dp + i * dstride, Gp + i * K)


# --- 3. scatter and update -----------------------------------------------------------------------------


cdef struct Upd:
    # everything the update of one agent reads besides its net price h and its rows of S and Y
    int mode
    int family
    int K
    double alpha
    double dt
    double lam_r
    double lam_c
    double lam_s
    double eta_w
    double noise_scale
    double kappa_min
    double kappa_max
    double tau
    double threshold
    double rate
    double beta
    double learn_rate
    double forget
    double cmax
    double step_p
    double step_k
    double step_w
    bint has_noise
    bint hard
    bint nonneg
    bint learn
    bint signed_family
    bint s_is_new
    bint lean        # a gradient-type mode without penalties or learning: update_row's short path
    double* Pp
    double* Pn
    double* Cp       # NULL when capabilities are all ones
    double* Cl       # capabilities as stored (learning reads them)
    double* Cn
    double* cxp
    double* sxp
    double* n2
    double* n1
    double* mup
    double* kap
    double* mun
    double* kan
    double* comm
    double* w
    double* upkeep
    double* diag
    double* u
    double* u_new
    double* w_new
    double* payoff
    double* change


cdef void fill_upd(Upd* U, Params prm, int K, double[:, ::1] P, double[::1] mu, double[::1] kappa,
                   double[::1] cx, double[::1] sx, double[::1] w, double[:, ::1] C, double[::1] comm,
                   double[::1] upkeep, double[:, ::1] noise2, double[::1] noise1,
                   double[::1] diag, double[::1] u, double[::1] u_new, double[:, ::1] C_new,
                   double[:, ::1] P_new, double[::1] mu_new, double[::1] kappa_new, double[::1] w_new,
                   double[::1] payoff, double[::1] change):
    U.mode = prm.s.mode
    U.family = prm.s.family
    U.K = K
    U.alpha = prm.s.alpha
    U.dt = prm.s.dt
    U.lam_r = prm.s.lam_r
    U.lam_c = prm.s.lam_c
    U.lam_s = prm.s.lam_s
    U.eta_w = prm.s.eta_w
    U.noise_scale = prm.s.noise * sqrt(prm.s.dt)
    U.kappa_min = prm.s.kappa_min
    U.kappa_max = prm.s.kappa_max
    U.tau = prm.s.tau
    U.threshold = prm.s.threshold
    U.rate = prm.s.rate
    U.beta = prm.s.beta
    U.learn_rate = prm.s.learn_rate
    U.forget = prm.s.forget
    U.cmax = prm.s.cmax
    U.step_p = prm.s.dt * prm.s.eta
    U.step_k = prm.s.dt * prm.s.eta_kappa
    U.step_w = prm.s.dt * prm.s.eta_w
    U.has_noise = prm.s.has_noise and prm.s.mode != IMITATION  # imitation's noise is added by imitate
    U.hard = prm.s.hard
    U.nonneg = prm.s.nonneg
    U.learn = prm.s.learn
    U.signed_family = prm.s.family == SIGNED
    U.s_is_new = prm.s.s_is_new
    U.lean = (U.mode != TATONNEMENT and U.mode != LCA and U.mode != IMITATION and U.lam_c == 0.0
              and U.lam_r == 0.0 and not U.learn and (U.family == SIGNED or U.lam_s == 0.0))
    U.Pp = ptr2(P)
    U.Pn = ptr2(P_new)
    U.Cp = NULL if prm.s.c_ones else ptr2(C)
    U.Cl = ptr2(C)
    U.Cn = ptr2(C_new)
    U.cxp = ptr(cx)
    U.sxp = ptr(sx)
    U.n2 = ptr2(noise2) if U.has_noise else NULL
    U.n1 = ptr(noise1) if U.has_noise else NULL
    U.mup = ptr(mu)
    U.kap = ptr(kappa)
    U.mun = ptr(mu_new)
    U.kan = ptr(kappa_new)
    U.comm = ptr(comm)
    U.w = ptr(w)
    U.upkeep = ptr(upkeep)
    U.diag = ptr(diag)
    U.u = ptr(u)
    U.u_new = ptr(u_new)
    U.w_new = ptr(w_new)
    U.payoff = ptr(payoff)
    U.change = ptr(change)


cdef inline void update_row(const Upd* U, Py_ssize_t i, double* h, const double* s_row, const double* y_row,
                            double* t, double* q, const double* cs) noexcept nogil:
    """The mode's update of agent i from its net price h (overwritten), learning by doing, and
    agent i's largest change (see update_any; the common case by update_lean, inlined)."""
    if U.lean and y_row == NULL and (cs != NULL or U.family != VONMISES):
        update_lean(U, i, h, s_row, t, q, cs)
    else:
        update_any(U, i, h, s_row, y_row, t, q, cs)


cdef inline void update_lean(const Upd* U, Py_ssize_t i, double* h, const double* s_row, double* t, double* q,
                             const double* cs) noexcept nogil:
    """update_any's arithmetic for U.lean with production not stored, in a few lines that the
    compiler inlines into the passes (the whole of update_any as a call costs 3-6 % of a step)."""
    cdef double gw = 0.0, cm = 0.0, sm = 0.0, ch
    if cs != NULL:  # cos mu and sin mu (von Mises) as the produce step computed them
        cm = cs[0]
        sm = cs[1]
    ch = fast_update(U, i, h, s_row, t, q, cm, sm, &gw)
    U.payoff[i] = gw
    new_weight(U, i, gw)
    U.change[i] = dps_nanmax(0.0, ch)


cdef inline double fast_update(const Upd* U, Py_ssize_t i, double* h, const double* s_row, double* t, double* q,
                               double cm, double sm, double* gw) noexcept nogil:
    """The family's update of agent i in fewer sweeps over the row (production not stored, a
    gradient-type mode, no specialisation penalty): payoff gradient in gw, returns the change."""
    cdef int K = U.K
    cdef double wi = U.w[i]
    if U.family == FREE:
        return dps_update_free(h, srow(U.s_is_new, s_row, q, K), U.Pp + i * K, wi, U.alpha, U.step_p,
                               NULL if U.n2 == NULL else U.n2 + i * K, U.noise_scale, t, U.Pn + i * K, gw, K)
    if U.family == VONMISES:
        return dps_update_vonmises(h, s_row, wi, U.alpha, U.mup[i], U.kap[i], cm, sm, U.cxp, U.sxp, U.step_p,
                                   U.step_k, NULL if U.n1 == NULL else U.n1 + i, U.noise_scale, U.kappa_min,
                                   U.kappa_max, U.mun + i, U.kan + i, gw, K)
    return dps_update_signed(h, U.Pp + i * K, wi, U.step_p, NULL if U.n2 == NULL else U.n2 + i * K, U.noise_scale,
                             t, U.Pn + i * K, gw, K)


cdef inline void new_weight(const Upd* U, Py_ssize_t i, double gw) noexcept nogil:
    """Agent i's new weight after a gradient-type update (replicator, or following eta_w, or kept)."""
    cdef double wi = U.w[i]
    if U.mode == REPLICATOR:
        U.w_new[i] = wi * (1.0 + U.dt * (gw - U.upkeep[i]))
    elif U.eta_w != 0.0:
        U.w_new[i] = wi + U.step_w * gw
    else:
        U.w_new[i] = wi


cdef void update_any(const Upd* U, Py_ssize_t i, double* h, const double* s_row, const double* y_row,
                     double* t, double* q, const double* cs) noexcept nogil:
    """The mode's update of agent i from its net price h (overwritten), learning by doing, and
    agent i's largest change. s_is_new: P_new is S's buffer (row i of S is read only for agent i,
    before it is overwritten; not allowed with learning, which reads S after the update)."""
    cdef int mode = U.mode, family = U.family, K = U.K, k
    cdef double alpha = U.alpha, dt = U.dt, wi = U.w[i]
    cdef double c, sa, tsum, gw, ch, drive, self_ov, top, tot, v, m, val, sc, s_new, cm, sm
    cdef bint fast
    cdef double* Cp = U.Cp
    cdef const double* crow = NULL if Cp == NULL else Cp + i * K
    cdef double* Pp = U.Pp
    cdef double* Pn = U.Pn
    cdef double* n2 = U.n2
    if U.lam_c != 0.0:
        for k in range(K):
            h[k] = h[k] - U.lam_c * U.comm[i]
    tsum = 0.0
    gw = 0.0
    ch = 0.0
    cm = 0.0
    sm = 0.0
    if family == VONMISES:  # cos mu and sin mu as the produce step computed them, or again
        if cs == NULL:
            dps_sincos(U.mup[i], &sm, &cm)
        else:
            cm = cs[0]
            sm = cs[1]
    # the common case in fewer sweeps over the row (same arithmetic): production not stored (so
    # alpha = 1 and capabilities all ones), a gradient-type mode, no specialisation penalty
    fast = (y_row == NULL and mode != TATONNEMENT and mode != LCA and mode != IMITATION
            and (family == SIGNED or U.lam_s == 0.0))
    if fast:
        ch = fast_update(U, i, h, s_row, t, q, cm, sm, &gw)
    else:
        gw = dps_drive_row(h, s_row, y_row, crow, wi, alpha, U.signed_family, U.lam_s, t, q, &tsum, K)
    if U.lam_r != 0.0:
        gw = gw - U.lam_r * (1.0 if wi > 0 else (-1.0 if wi < 0 else 0.0))
    U.payoff[i] = gw
    m = 0.0
    if mode == TATONNEMENT:
        top = 0.0
        for k in range(K):
            v = fabs(h[k] * (1.0 if crow == NULL else crow[k]))
            if v > top:
                top = v
        if not top > 0:
            top = 1.0
        val = -1e308
        for k in range(K):
            v = U.beta * (h[k] * (1.0 if crow == NULL else crow[k])) / top
            t[k] = v
            if v > val:
                val = v
        tot = 0.0
        for k in range(K):
            t[k] = exp(t[k] - val)
            tot = tot + t[k]
        for k in range(K):
            s_new = (1.0 - dt * U.rate) * s_row[k] + dt * U.rate * (t[k] / tot)
            v = log(s_new if s_new > TINY else TINY)
            if U.has_noise:
                v = v + U.noise_scale * n2[i * K + k]
            Pn[i * K + k] = v
            m = dps_nanmax(m, fabs(v - Pp[i * K + k]))
        U.w_new[i] = wi
    elif mode == LCA:
        drive = 0.0
        self_ov = 0.0
        for k in range(K):
            c = 1.0 if crow == NULL else crow[k]
            sa = s_row[k] if alpha == 1.0 else pow(s_row[k], alpha)
            drive = drive + h[k] * (c * sa)
            self_ov = self_ov + (c * sa) * (c * sa)
        v = U.u[i] + (dt / U.tau) * (-U.u[i] + drive + U.diag[i] * self_ov * wi)
        U.u_new[i] = v
        m = dps_nanmax(m, fabs(v - U.u[i]))
        if U.hard:
            if U.nonneg:
                U.w_new[i] = v if v > U.threshold else 0.0
            else:
                U.w_new[i] = v if fabs(v) > U.threshold else 0.0
        elif U.nonneg:
            U.w_new[i] = v - U.threshold if v - U.threshold > 0 else 0.0
        else:
            sc = fabs(v) - U.threshold
            if sc < 0:
                sc = 0.0
            U.w_new[i] = (1.0 if v > 0 else (-1.0 if v < 0 else 0.0)) * sc
        m = dps_nanmax(m, ascend(family, i, K, Pp, srow(U.s_is_new, s_row, q, K), t, tsum, U.step_p, 0.0, cm, sm,
                                 U.mup, U.kap, U.cxp, U.sxp, NULL, NULL, 0.0, U.kappa_min, U.kappa_max,
                                 Pn, U.mun, U.kan))
    elif mode != IMITATION:
        if not fast:
            ch = ascend(family, i, K, Pp, srow(U.s_is_new, s_row, q, K), t, tsum, U.step_p, U.step_k, cm, sm,
                        U.mup, U.kap, U.cxp, U.sxp, n2, U.n1, U.noise_scale, U.kappa_min, U.kappa_max,
                        Pn, U.mun, U.kan)
        m = dps_nanmax(m, ch)
        new_weight(U, i, gw)
    # learning by doing: dC/dt = rate |w| |s| - forget (C - 1), within [0, max]
    if U.learn:
        for k in range(K):
            c = U.Cl[i * K + k]
            v = c + dt * (U.learn_rate * fabs(wi) * fabs(s_row[k]) - U.forget * (c - 1.0))
            if v < 0:
                v = 0.0
            if v > U.cmax:
                v = U.cmax
            U.Cn[i * K + k] = v
            m = dps_nanmax(m, fabs(v - c))
    U.change[i] = m


def update(Params prm, bint csr, double[::1] a, double b, double gamma,
           const int64_t[::1] indptr, const int64_t[::1] indices, const double[::1] data,
           double[:, ::1] G, double[::1] colsumG,
           double[:, ::1] S, double[:, ::1] Y, double[:, ::1] P, double[::1] mu, double[::1] kappa,
           double[::1] cx, double[::1] sx, double[::1] w, double[:, ::1] C, double[::1] comm,
           double[::1] upkeep, double[:, ::1] noise2, double[::1] noise1,
           double[::1] diag, double[::1] u, double[::1] u_new, double[:, ::1] C_new,
           double[:, ::1] P_new, double[::1] mu_new, double[::1] kappa_new, double[::1] w_new,
           double[::1] payoff, double[::1] change):
    """Scatter H_i (through the mix a, b, gamma, CSR), then the mode's update of agent i; per-agent
    largest change in `change`. s_is_new: P_new is S's buffer (see update_row)."""
    cdef bint scatter = prm.s.scatter, store_y = prm.s.store_y
    cdef Py_ssize_t n = S.shape[0], i, k
    cdef int K = <int> S.shape[1]
    cdef Upd U
    fill_upd(&U, prm, K, P, mu, kappa, cx, sx, w, C, comm, upkeep, noise2, noise1, diag, u, u_new, C_new,
             P_new, mu_new, kappa_new, w_new, payoff, change)
    cdef double* h
    cdef double* t
    cdef double* q
    cdef const int64_t* ip = iptr(indptr)
    cdef const int64_t* ix = iptr(indices)
    cdef const double* dp = &data[0] if data.shape[0] > 0 else NULL
    cdef double* ap = ptr(a)
    cdef double* Gp = ptr2(G)
    cdef double* cg = ptr(colsumG)
    cdef double* Sp = ptr2(S)
    cdef double* Yp = ptr2(Y) if store_y else NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    with nogil, parallel():
        h = rows(1, K)
        t = rows(1, K)
        q = rows(1, K)
        if h == NULL or t == NULL or q == NULL:
            failed_p[0] = 1
        for i in prange(n, schedule="static"):
            if h == NULL or t == NULL or q == NULL:
                continue
            # H_i (or the own node's G_i)
            if scatter:
                dps_mix_row(csr, ap[i], b, gamma, ip, ix, dp, Gp, NULL, NULL, cg, i, K, NULL, h)
            else:
                for k in range(K):
                    h[k] = Gp[i * K + k]
            update_row(&U, i, h, Sp + i * K, NULL if Yp == NULL else Yp + i * K, t, q, NULL)
        dps_sfence()  # the new rows may have been stored non-temporally
        free(h)
        free(t)
        free(q)
    if failed:
        no_scratch("scatter and update", 3, K)


cdef inline const double* srow(bint s_is_new, const double* s_row, double* q, int K) noexcept nogil:
    """Agent i's profile row; a copy in the scratch row q when the new parameters overwrite S."""
    if s_is_new:
        memcpy(q, s_row, K * sizeof(double))
        return q
    return s_row


cdef inline double ascend(int family, Py_ssize_t i, int K, double* Pp, const double* s_row, double* t, double tsum,
                          double step_p, double step_k, double cm, double sm, double* mu, double* kappa,
                          double* cxp, double* sxp, double* n2, double* n1, double ns, double kmin, double kmax,
                          double* Pn, double* mu_new, double* kappa_new) noexcept nogil:
    """The family's gradient step for agent i (with noise where given); returns the change. cm, sm:
    cos and sin of agent i's von Mises centre."""
    if family == FREE:
        return dps_ascend_free(Pp + i * K, s_row, t, tsum, step_p, NULL if n2 == NULL else n2 + i * K, ns,
                               Pn + i * K, K)
    if family == SIGNED:
        return dps_ascend_signed(Pp + i * K, t, step_p, NULL if n2 == NULL else n2 + i * K, ns, Pn + i * K, K)
    return dps_ascend_vonmises(mu[i], kappa[i], cm, sm, cxp, sxp, s_row, t, tsum, step_p, step_k,
                               NULL if n1 == NULL else n1 + i, ns, kmin, kmax, mu_new + i, kappa_new + i, K)


# --- the three passes fused, for graphs of small bandwidth -----------------------------------------------


def fused(Params prm, int band_g, int band_s, int tile,
          double[::1] ga, double ggamma, const int64_t[::1] g_indptr, const int64_t[::1] g_indices,
          const double[::1] g_data,
          double[::1] sa, double sgamma, const int64_t[::1] s_indptr, const int64_t[::1] s_indices,
          const double[::1] s_data,
          double[:, ::1] D, double[:, ::1] price, double[:, ::1] price_new,
          double[:, ::1] P, double[::1] mu, double[::1] kappa,
          double[::1] cx, double[::1] sx, double[::1] w, double[:, ::1] C, double[::1] comm,
          double[::1] upkeep, double[:, ::1] noise2, double[::1] noise1,
          double[::1] diag, double[::1] u, double[::1] u_new, double[:, ::1] C_new,
          double[:, ::1] P_new, double[::1] mu_new, double[::1] kappa_new, double[::1] w_new,
          double[::1] payoff, double[::1] change):
    """produce, gather + signal and scatter + update in one pass over tiles of `tile` agents, for
    CSR operators whose edges join nodes at most band_g (gather) and band_s (scatter) apart
    cyclically (|i - j| or n - |i - j|). A tile's rows of S, Y and G live in ring buffers of a few
    rows that stay in cache; each tile recomputes the few rows around it that its neighbours also
    compute. Every value is computed by the same arithmetic as in the three passes from inputs no
    pass writes (P_new is never S), so the results equal theirs bit for bit, for any thread count.
    Needs tile + 2 (band_g + band_s) <= n; the scatter operator is used only if the mode scatters."""
    cdef int family = prm.s.family
    cdef double alpha = prm.s.alpha
    cdef bint store_y = prm.s.store_y, scatter = prm.s.scatter
    cdef bint s_ring = family != SIGNED   # signed atoms are their own profiles: S rows are P rows
    cdef Py_ssize_t n = w.shape[0], b, lo, Tb, c, r, gi, ui, k
    cdef int K = <int> cx.shape[0]
    cdef Py_ssize_t W = band_g + band_s
    cdef Py_ssize_t R = 1
    while R < 2 * W + 2:
        R *= 2
    cdef Py_ssize_t mask = R - 1
    cdef Py_ssize_t ntiles = (n + tile - 1) // tile
    if tile + 2 * W > n or tile < 1:
        raise ValueError(f"fused pass: tile {tile} and bands {band_g}, {band_s} do not fit {n} agents")
    cdef Upd U
    fill_upd(&U, prm, K, P, mu, kappa, cx, sx, w, C, comm, upkeep, noise2, noise1, diag, u, u_new, C_new,
             P_new, mu_new, kappa_new, w_new, payoff, change)
    cdef Sig sg
    fill_sig(&sg, prm, D, price, K)
    cdef double* Pp = ptr2(P)
    cdef double* Cp = NULL if prm.s.c_ones else ptr2(C)
    cdef double* pn = ptr2(price_new)
    cdef double* cxp = ptr(cx)
    cdef double* sxp = ptr(sx)
    cdef double* mup = ptr(mu)
    cdef double* kap = ptr(kappa)
    cdef double* wp = ptr(w)
    cdef const int64_t* gp = iptr(g_indptr)
    cdef const int64_t* gx = iptr(g_indices)
    cdef const double* gd = &g_data[0] if g_data.shape[0] > 0 else NULL
    cdef const int64_t* sp = iptr(s_indptr)
    cdef const int64_t* sxx = iptr(s_indices)
    cdef const double* sd = &s_data[0] if s_data.shape[0] > 0 else NULL
    cdef double* gap = ptr(ga)
    cdef double* sap = ptr(sa)
    cdef double* ringS
    cdef double* ringY
    cdef double* ringG
    cdef double* ringCS  # cos mu and sin mu of the rows in ringS (von Mises), for the update to reuse
    cdef double* z
    cdef double* h
    cdef double* t
    cdef double* q
    cdef double* pscratch
    cdef dps_ring* mapX
    cdef dps_ring* mapG
    cdef double* s_row
    cdef double* g_row
    cdef double* mixed
    cdef const double* minus
    cdef bint residual = sg.signal == RESIDUAL  # G = D - z as the mixing stores z
    cdef bint ok
    cdef int failed = 0
    cdef int* failed_p = &failed
    with nogil, parallel():
        ringS = rows(R, K)
        ringY = rows(R, K)
        ringG = rows(R, K)
        ringCS = <double*> malloc(R * 2 * sizeof(double))
        z = rows(1, K)
        h = rows(1, K)
        t = rows(1, K)
        q = rows(1, K)
        pscratch = rows(1, K)
        mapX = <dps_ring*> malloc(sizeof(dps_ring))
        mapG = <dps_ring*> malloc(sizeof(dps_ring))
        ok = (ringS != NULL and ringY != NULL and ringG != NULL and ringCS != NULL and z != NULL and h != NULL
              and t != NULL and q != NULL and pscratch != NULL and mapX != NULL and mapG != NULL)
        if not ok:
            failed_p[0] = 1
        for b in prange(ntiles, schedule="static"):
            if not ok:
                continue
            lo = b * tile
            Tb = n - lo if n - lo < tile else tile
            # gather reads production (stored Y, or S scaled by w), the scatter reads G
            mapX.base = ringY if store_y else (ringS if s_ring else NULL)
            mapX.shift = W - lo
            mapX.span = Tb + 2 * W
            mapX.n = n
            mapX.mask = mask
            mapG[0] = mapX[0]
            mapG.base = ringG
            for c in range(-W, Tb + W):
                if family != VONMISES:  # the profile rows are read from memory in agent order
                    dps_prefetch_row(Pp + cyclic((lo + c + PREFETCH_ROWS) % n, n) * K, K)  # % n: rings shorter than the lead
                # produce the row at offset c
                r = cyclic(lo + c, n)
                k = (c + W) & mask
                if family == VONMISES and ((c + W) & 1) == 0:  # cos and sin of this row's centre and the next's
                    if c + 1 < Tb + W:
                        dps_sincos2(mup[r], mup[cyclic(lo + c + 1, n)], ringCS + 2 * k, ringCS + 2 * ((c + 1 + W) & mask))
                    else:
                        dps_sincos(mup[r], ringCS + 2 * k + 1, ringCS + 2 * k)
                if s_ring or store_y:
                    produce_row(family, NULL if family == VONMISES else Pp + r * K,
                                mup[r] if family == VONMISES else 0.0, kap[r] if family == VONMISES else 0.0,
                                cxp, sxp, ringS + k * K if s_ring else Pp + r * K, store_y,
                                wp[r] if store_y else 0.0, NULL if Cp == NULL else Cp + r * K, ringY + k * K, alpha, K,
                                ringCS + 2 * k)
                # the signal of the node at offset c - band_g (its neighbours' rows are all produced)
                gi = c - band_g
                if gi >= -band_s and gi < Tb + band_s:
                    r = cyclic(lo + gi, n)
                    g_row = ringG + ((gi + W) & mask) * K
                    # the residual signal D - z is taken as the mixing stores z (the same subtraction)
                    minus = demand_row(&sg, r) if residual else NULL
                    mixed = g_row if residual else z
                    if store_y or s_ring:
                        dps_mix_row(1, gap[r], 0.0, ggamma, gp, gx, gd, NULL, mapX,
                                    NULL if store_y else wp, NULL, r, K, minus, mixed)
                    else:
                        dps_mix_row(1, gap[r], 0.0, ggamma, gp, gx, gd, Pp, NULL, wp, NULL, r, K, minus, mixed)
                    if not residual:
                        signal_row(&sg, r, z, g_row,
                                   (pn + r * K if gi >= 0 and gi < Tb else pscratch) if pn != NULL else NULL)
                # the update of the agent at offset c - W (the signals it reads are all computed)
                ui = c - W
                if ui >= 0:
                    r = lo + ui
                    if scatter:
                        dps_mix_row(1, sap[r], 0.0, sgamma, sp, sxx, sd, NULL, mapG, NULL, NULL, r, K, NULL, h)
                    else:
                        memcpy(h, ringG + ((ui + W) & mask) * K, K * sizeof(double))
                    s_row = ringS + ((ui + W) & mask) * K if s_ring else Pp + r * K
                    update_row(&U, r, h, s_row, ringY + ((ui + W) & mask) * K if store_y else NULL, t, q,
                               ringCS + 2 * ((ui + W) & mask))
            dps_sfence()  # the new rows may have been stored non-temporally
        free(ringS)
        free(ringY)
        free(ringG)
        free(ringCS)
        free(z)
        free(h)
        free(t)
        free(q)
        free(pscratch)
        free(mapX)
        free(mapG)
    if failed:
        no_scratch("fused pass", 3 * R + 5, K)


def imitate(Params prm, double[::1] payoff, const int64_t[::1] partner, double[::1] draw_u,
            double[:, ::1] P, double[::1] mu, double[::1] kappa, double[:, ::1] noise2, double[::1] noise1,
            double[:, ::1] P_new, double[::1] mu_new, double[::1] kappa_new, double[::1] change):
    """Copy a random neighbour's profile with probability dt*rate*[better] (or the Fermi rule)."""
    cdef int family = prm.s.family
    cdef double prob_scale = prm.s.dt * prm.s.rate, temperature = prm.s.temperature
    cdef bint has_noise = prm.s.has_noise
    cdef double noise_scale = prm.s.noise * sqrt(prm.s.dt)
    cdef double kappa_min = prm.s.kappa_min, kappa_max = prm.s.kappa_max
    cdef Py_ssize_t n = payoff.shape[0], i, j, k
    cdef int K = <int> P.shape[1]
    cdef double diff, prob, v, m
    cdef bint copy
    cdef double* Pp = ptr2(P)
    cdef double* Pn = ptr2(P_new)
    cdef double* zero = NULL
    with nogil:
        for i in prange(n, schedule="static"):
            j = partner[i]
            diff = payoff[j] - payoff[i]
            if temperature == 0.0:
                prob = 1.0 if diff > 0 else 0.0
            else:
                prob = 1.0 / (1.0 + exp(-diff / temperature))
            copy = draw_u[i] < prob_scale * prob
            m = change[i]
            if family == VONMISES:
                v = mu[j] if copy else mu[i]
                if has_noise:
                    v = v + noise_scale * noise1[i]
                v = dps_wrap(v)
                mu_new[i] = v
                m = dps_nanmax(m, fabs(v - mu[i]))
                v = kappa[j] if copy else kappa[i]
                v = kappa_min if v < kappa_min else v
                v = kappa_max if v > kappa_max else v
                kappa_new[i] = v
                m = dps_nanmax(m, fabs(v - kappa[i]))
            elif family == SIGNED:
                m = dps_nanmax(m, dps_ascend_signed(Pp + (j if copy else i) * K, zero, 0.0,
                                                    &noise2[i, 0] if has_noise else zero, noise_scale, Pn + i * K, K))
                for k in range(K):  # the change is measured against the agent's own old atoms
                    m = dps_nanmax(m, fabs(Pn[i * K + k] - Pp[i * K + k]))
            else:
                for k in range(K):
                    v = Pp[(j if copy else i) * K + k]
                    if has_noise:
                        v = v + noise_scale * noise2[i, k]
                    Pn[i * K + k] = v
                    m = dps_nanmax(m, fabs(v - Pp[i * K + k]))
            change[i] = m
