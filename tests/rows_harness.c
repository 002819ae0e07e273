/* Runs every row function of cext/dps_rows_isa.h on fixed pseudo-random rows of K tasks and prints
 * every output to 17 digits: tests/test_row_builds.py compiles it several ways (each instruction
 * set, the portable build, the build without vector extensions) and compares the outputs. */
#include "dps_rows.h"
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 88172645463325252ULL;
static double uniform(void) { /* xorshift64: the same numbers on every platform */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}
static double *row(int K, double lo, double hi) {
    double *r = malloc(K * sizeof(double));
    for (int k = 0; k < K; k++) r[k] = lo + (hi - lo) * uniform();
    return r;
}
static void show(const char *what, const double *x, int n) {
    printf("%s", what);
    for (int k = 0; k < n; k++) printf(" %.17g", x[k]);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || (argc > 2 && dps_select_isa(argv[2]) != 0)) return 2;
    int K = atoi(argv[1]), n = 12;
    double *L = row(K, -2, 2), *D = row(K, 0.01, 0.1), *z = row(K, 0.01, 0.1), *h = row(K, -1, 1);
    double *cx = row(K, -1, 1), *sx = row(K, -1, 1), *xi = row(K, -1, 1), *C = row(K, 0.5, 1.5);
    double *X = row(n * K, 0, 1), *v = row(n, 0.5, 1.5), *colsum = row(K, 0, 3), *p = row(K, 0.5, 2);
    double *S = row(K, 0, 1), *Y = row(K, 0, 1), *G = row(K, 0, 1), *T = row(K, 0, 1), *q = row(K, 0, 1);
    double *out = row(K, 0, 1), *pn = row(K, 0, 1), r[4];
    int64_t indptr[13], indices[48];
    double data[48];
    for (int i = 0; i <= n; i++) indptr[i] = 4 * i;
    for (int e = 0; e < 48; e++) indices[e] = (e / 4 + 1 + e % 4) % n, data[e] = 0.2 + uniform();
    dps_ring ring = {X, 0, 10, n, 15}; /* rows 0..9 around a tile of 6 rows from row 2 (W = 2) */

    dps_softmax_row(L, S, K), show("softmax", S, K);
    dps_vonmises_row(0.6, 0.8, 3.0, cx, sx, S, K), show("vonmises", S, K);
    dps_produce_row(0.7, C, S, Y, 1.5, K), show("produce", Y, K);
    dps_mix_row(1, 0.4, 0.0, 0.6, indptr, indices, data, X, NULL, v, NULL, 5, K, NULL, out), show("mix", out, K);
    dps_mix_row(1, 0.4, 0.0, 0.6, indptr, indices, data, X, NULL, v, NULL, 5, K, D, out), show("D - mix", out, K);
    dps_mix_row(1, 0.4, 0.0, 0.6, indptr, indices, data, NULL, &ring, NULL, NULL, 4, K, NULL, out), show("mix ring", out, K);
    dps_mix_row(0, 0.4, 0.3, 0.6, NULL, NULL, NULL, X, NULL, NULL, colsum, 3, K, NULL, out), show("mix field", out, K);
    dps_mix_row(0, 0.4, 0.3, 0.6, NULL, NULL, NULL, X, NULL, NULL, colsum, 3, K, D, out), show("D - mix field", out, K);
    dps_coverage_row(D, z, 0.05, G, K), show("coverage", G, K);
    dps_residual_row(D, z, G, K), show("residual", G, K);
    dps_price_row(D, z, p, 0, 0.3, 0.1, 1e-3, G, pn, K), show("price", pn, K);
    r[0] = dps_drive_row(h, S, Y, C, 0.7, 1.5, 0, 0.05, T, q, &r[1], K), show("drive", T, K), show("drive w", r, 2);
    r[0] = dps_ascend_free(L, S, T, r[1], 0.2, xi, 0.01, out, K), show("ascend free", out, K), show("m", r, 1);
    r[0] = dps_ascend_signed(L, T, 0.2, xi, 0.01, out, K), show("ascend signed", out, K), show("m", r, 1);
    r[0] = dps_update_free(h, S, L, 0.7, 1.0, 0.2, xi, 0.01, T, out, &r[1], K), show("update free", out, K);
    show("m gw", r, 2);
    r[0] = dps_update_signed(h, L, 0.7, 0.2, xi, 0.01, T, out, &r[1], K), show("update signed", out, K);
    show("m gw", r, 2);
    r[0] = dps_ascend_vonmises(1.0, 3.0, 0.54, 0.84, cx, sx, S, T, 0.4, 0.2, 0.1, xi, 0.01, 0.1, 50.0, &r[1],
                               &r[2], K), show("ascend vonmises", r, 3);
    r[0] = dps_update_vonmises(h, S, 0.7, 1.0, 1.0, 3.0, 0.54, 0.84, cx, sx, 0.2, 0.1, xi, 0.01, 0.1, 50.0, &r[1],
                               &r[2], &r[3], K), show("update vonmises", r, 4);
    return 0;
}
