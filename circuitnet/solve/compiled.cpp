// circuitnet compiled kernels (circuitnet/solve/compiled.py builds and loads this source).
// Method "exact": the sweep over each neuron's inputs in time order (solve/exact.py, _MembraneExact),
// forward, backward and the TTFS first-crossing search, and the per-sample sort of the input times.
// Method "dstd": the hat-kernel products of its closed-form path (solve/dstd.py, _MembraneDSTD).
// Plain C++17 without torch headers: called through ctypes on the data of contiguous CPU tensors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

typedef int64_t i64;
#ifndef BWD_TILE_BYTES
#define BWD_TILE_BYTES (512 * 1024)
#endif

namespace {

// The table filled by exact._tables (doubles): series coefficients, their reaches, TINY, LOG2E.
enum { TAB_PHI = 0, TAB_PSI = 7, TAB_RHO = 14, TAB_RPHI = 20, TAB_RPSI = 26, TAB_RRHO = 32, TAB_TINY = 37,
       TAB_LOG2E = 38, TAB_LEN = 39 };
enum { N_RPHI = 6, N_RPSI = 6, N_RRHO = 5 };
enum { EXPM1 = 7 };     // "degree" of phi1's expm1 branch
enum { PSI_PATH = 6 };  // "degree" of rho's psi/phi1 branch

// Series degrees of the fused one-pass interval (used where the interval's largest f d, bounded
// above by F d, lies within the reach of both): a degree above the one exact.relax would pick is
// at least as accurate.
template <typename T> struct Fast;
template <> struct Fast<float> { static constexpr int D = 3, M = 1; };
template <> struct Fast<double> { static constexpr int D = 5, M = 2; };

template <typename T> struct Coef {
    T phi[7], psi[7], rho[6], tiny, nlog2e;
    double rphi[N_RPHI], rpsi[N_RPSI], rrho[N_RRHO], xfast;
    explicit Coef(const double* tab) {
        for (int i = 0; i < 7; ++i) phi[i] = (T)tab[TAB_PHI + i], psi[i] = (T)tab[TAB_PSI + i];
        for (int i = 0; i < 6; ++i) rho[i] = (T)tab[TAB_RHO + i];
        for (int i = 0; i < N_RPHI; ++i) rphi[i] = tab[TAB_RPHI + i];
        for (int i = 0; i < N_RPSI; ++i) rpsi[i] = tab[TAB_RPSI + i];
        for (int i = 0; i < N_RRHO; ++i) rrho[i] = tab[TAB_RRHO + i];
        tiny = (T)tab[TAB_TINY];
        nlog2e = (T)(-tab[TAB_LOG2E]);
        xfast = std::min(rphi[Fast<T>::D], rrho[Fast<T>::M]);
    }
};

// smallest series degree whose reach covers xmax, or -1 (exact._degree)
static inline int degree(const double* reach, int n, double xmax) {
    for (int D = 0; D < n; ++D)
        if (xmax <= reach[D]) return D;
    return -1;
}

// sum_n c[n] y^n in the order of exact._horner (D >= 1)
template <typename T, int D> static inline T horner(T y, const T* c) {
    T p = c[D - 1] + c[D] * y;
    for (int n = D - 2; n >= 0; --n) p = c[n] + p * y;
    return p;
}

// ------------------------------------------------------------- exp2 (vectorisable, about 1 ulp)
static inline float bits_f(uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; }
static inline uint32_t fbits(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
static inline double bits_d(uint64_t u) { double x; std::memcpy(&x, &u, 8); return x; }
static inline uint64_t dbits(double x) { uint64_t u; std::memcpy(&u, &x, 8); return u; }

// 2^y for y >= -126 (below: 2^-126 times 2^r, r in [-1/2, 1/2], instead of a subnormal or 0)
static inline float exp2v(float y) {
    y = y < -126.f ? -126.f : (y > 127.f ? 127.f : y);
    const float magic = 12582912.f;  // 1.5 * 2^23: y + magic rounds y to an integer n
    const float t = y + magic;
    const float r = y - (t - magic);  // [-1/2, 1/2]
    const uint32_t e = fbits(t) - fbits(magic) + 127u;  // n + 127 in [1, 254]
    // 2^r = sum_k (r ln2)^k / k!, k <= 7 (truncation < 6e-9)
    float p = 1.52527338040598411e-05f;
    p = p * r + 1.54035303933816088e-04f;
    p = p * r + 1.33335581464284433e-03f;
    p = p * r + 9.61812910762847688e-03f;
    p = p * r + 5.55041086648215831e-02f;
    p = p * r + 2.40226506959100722e-01f;
    p = p * r + 6.93147180559945286e-01f;
    p = p * r + 1.0f;
    return p * bits_f(e << 23);
}

// 2^y for y >= -1022 (below: 2^-1022 times 2^r)
static inline double exp2v(double y) {
    y = y < -1022. ? -1022. : (y > 1023. ? 1023. : y);
    const double magic = 6755399441055744.0;  // 1.5 * 2^52
    const double t = y + magic;
    const double r = y - (t - magic);
    const uint64_t e = dbits(t) - dbits(magic) + 1023u;
    // 2^r = sum_k (r ln2)^k / k!, k <= 13 (truncation < 1e-17)
    double p = 1.36914888539041281e-12;
    p = p * r + 2.56784359934882055e-11;
    p = p * r + 4.44553827187081162e-10;
    p = p * r + 7.05491162080112336e-09;
    p = p * r + 1.01780860092396999e-07;
    p = p * r + 1.32154867901443095e-06;
    p = p * r + 1.52527338040598411e-05;
    p = p * r + 1.54035303933816088e-04;
    p = p * r + 1.33335581464284433e-03;
    p = p * r + 9.61812910762847688e-03;
    p = p * r + 5.55041086648215831e-02;
    p = p * r + 2.40226506959100722e-01;
    p = p * r + 6.93147180559945286e-01;
    p = p * r + 1.0;
    return p * bits_d(e << 52);
}

// ------------------------------------------------------------------------ vector helpers
template <typename T> static inline T vmax(const T* __restrict x, i64 n) {
    T m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (i64 i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

template <typename T> static inline T vdot(const T* __restrict x, const T* __restrict y, i64 n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (i64 i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
}

template <typename T> static inline void vaxpy(T* __restrict y, T a, const T* __restrict x, i64 n) {
#pragma omp simd
    for (i64 i = 0; i < n; ++i) y[i] += a * x[i];
}

template <typename T> static inline void vadd(T* __restrict y, const T* __restrict x, i64 n) {
#pragma omp simd
    for (i64 i = 0; i < n; ++i) y[i] += x[i];
}

// ------------------------------------------------------------------- sort of the input times
// Per sample: tau = the times clamped to [0, t_end] in ascending order, perm their input indices
// (ties in index order).  LSD radix sort on the bit patterns (non-negative floats order as integers).
template <typename T, typename U> static void radix_rows(i64 b0, i64 b1, i64 N, const T* t, double t_end_d, T* tau,
                                                         i64* perm) {
    constexpr int BYTES = sizeof(U);
    const T t_end = (T)t_end_d;
    std::vector<U> ka(N), kb(N);
    std::vector<uint32_t> ia(N), ib(N);
    std::vector<uint32_t> hist(256 * BYTES);
    for (i64 b = b0; b < b1; ++b) {
        const T* tb = t + b * N;
        std::fill(hist.begin(), hist.end(), 0u);
        for (i64 j = 0; j < N; ++j) {
            T x = tb[j];
            x = x > T(0) ? x : T(0);
            x = x < t_end ? x : t_end;
            U k;
            x = x + T(0);  // -0 -> +0
            std::memcpy(&k, &x, sizeof(U));
            ka[j] = k;
            ia[j] = (uint32_t)j;
            for (int p = 0; p < BYTES; ++p) ++hist[256 * p + ((k >> (8 * p)) & 255)];
        }
        U *src = ka.data(), *dst = kb.data();
        uint32_t *isrc = ia.data(), *idst = ib.data();
        for (int p = 0; p < BYTES; ++p) {
            uint32_t* h = hist.data() + 256 * p;
            bool trivial = false;
            for (int d = 0; d < 256; ++d)
                if (h[d] == (uint32_t)N) trivial = true;
            if (trivial) continue;  // every key has this digit
            uint32_t sum = 0;
            for (int d = 0; d < 256; ++d) {
                const uint32_t c = h[d];
                h[d] = sum;
                sum += c;
            }
            for (i64 j = 0; j < N; ++j) {
                const uint32_t pos = h[(src[j] >> (8 * p)) & 255]++;
                dst[pos] = src[j];
                idst[pos] = isrc[j];
            }
            std::swap(src, dst);
            std::swap(isrc, idst);
        }
        T* out = tau + b * N;
        i64* pout = perm + b * N;
        for (i64 j = 0; j < N; ++j) {
            std::memcpy(out + j, src + j, sizeof(T));
            pout[j] = isrc[j];
        }
    }
}

// phi1(x) for nx = -x in the branch of exact.relax for degree D (EXPM1: clamps nx in place)
template <typename T, int D> static inline T phi_of(T& nx, const Coef<T>& c) {
    if constexpr (D == 0) {
        return T(1);
    } else if constexpr (D == EXPM1) {
        nx = nx < -c.tiny ? nx : -c.tiny;
        return std::expm1(nx) / nx;
    } else {
        return horner<T, D>(nx, c.phi);
    }
}

// rho = psi/phi1 (exact.rho_of) by the Bernoulli series of degree M >= 0
template <typename T, int M> static inline T rho_series(T y, const Coef<T>& c) {
    if constexpr (M == 0) {
        return T(0.5) + c.rho[0] * y;
    } else {
        const T z = y * y;
        return T(0.5) + y * horner<T, M>(z, c.rho);
    }
}

#define DISPATCH_PHI(D, CALL)                                \
    switch (D) {                                             \
        case 0: { constexpr int DD = 0; CALL; break; }       \
        case 1: { constexpr int DD = 1; CALL; break; }       \
        case 2: { constexpr int DD = 2; CALL; break; }       \
        case 3: { constexpr int DD = 3; CALL; break; }       \
        case 4: { constexpr int DD = 4; CALL; break; }       \
        case 5: { constexpr int DD = 5; CALL; break; }       \
        default: { constexpr int DD = EXPM1; CALL; break; }  \
    }

#define DISPATCH_RHO(M, CALL)                                   \
    switch (M) {                                                \
        case 0: { constexpr int MM = 0; CALL; break; }          \
        case 1: { constexpr int MM = 1; CALL; break; }          \
        case 2: { constexpr int MM = 2; CALL; break; }          \
        case 3: { constexpr int MM = 3; CALL; break; }          \
        case 4: { constexpr int MM = 4; CALL; break; }          \
        default: { constexpr int MM = PSI_PATH; CALL; break; }  \
    }

// The sweep's per-sample state.  Modes: PLAIN; STOP (per-neuron read-out times ts: the interval
// [lo, hi] is clipped to [lo, ts] per neuron, X accumulates -f d); PACKET (a charge packet q arrives
// with the input).
enum { PLAIN = 0, STOP = 1, PACKET = 2 };

template <typename T> static inline T clip_len(T lo, T hi, T ts) {
    const T a = hi < ts ? hi : ts, b = lo < ts ? lo : ts;
    return a - b;
}

// ------------------------------------------------------------------------- exact: forward
// Fused interval: add the arriving row, relax v over [lo, hi] with phi1 of degree Fast<T>::D.
template <typename T, int MODE>
static void fwd_fused(i64 n, T* __restrict v, T* __restrict f, T* __restrict g, const T* __restrict rf,
                      const T* __restrict rg, const T* __restrict q, T lo, T hi, const T* __restrict ts,
                      T* __restrict X, const Coef<T>& c) {
    const T d = hi - lo;
    for (i64 o = 0; o < n; ++o) {
        const T fo = f[o] + rf[o], go = g[o] + rg[o];
        f[o] = fo, g[o] = go;
        T vo = v[o];
        if (MODE == PACKET) vo = vo + q[o];
        const T dd = MODE == STOP ? clip_len(lo, hi, ts[o]) : d;
        const T nx = fo * -dd;
        const T dphi = horner<T, Fast<T>::D>(nx, c.phi) * dd;
        const T r = go - fo * vo;
        v[o] = vo + dphi * r;
        if (MODE == STOP) X[o] += nx;
    }
}

// General interval (any f d; f, g already hold the row): phi1 in relax's branch for degree D.
template <typename T, int MODE, int D>
static void fwd_row(i64 n, T* __restrict v, const T* __restrict f, const T* __restrict g, T lo, T hi,
                    const T* __restrict ts, T* __restrict X, const Coef<T>& c) {
    const T d = hi - lo;
    for (i64 o = 0; o < n; ++o) {
        const T dd = MODE == STOP ? clip_len(lo, hi, ts[o]) : d;
        T nx = f[o] * -dd;
        const T dphi = phi_of<T, D>(nx, c) * dd;
        const T r = g[o] - f[o] * v[o];
        v[o] = v[o] + dphi * r;
        if (MODE == STOP) X[o] += nx;
    }
}

// First threshold crossing (no autograd): record the start state of the interval at whose end the
// membrane is at or above 1 for the first time.
template <typename T, int D>
static void cross_row(i64 n, i64 k, T* __restrict v, const T* __restrict f, const T* __restrict g, T lo, T d,
                      i64* __restrict kh, T* __restrict v0, T* __restrict f0, T* __restrict g0, T* __restrict lo0,
                      T* __restrict d0, const Coef<T>& c) {
    for (i64 o = 0; o < n; ++o) {
        T nx = f[o] * -d;
        const T dphi = phi_of<T, D>(nx, c) * d;
        const T vn = v[o] + dphi * (g[o] - f[o] * v[o]);
        if (vn >= 1 && kh[o] < 0) kh[o] = k, v0[o] = v[o], f0[o] = f[o], g0[o] = g[o], lo0[o] = lo, d0[o] = d;
        v[o] = vn;
    }
}

// largest f d over the block (d per neuron in STOP mode)
template <typename T> static inline double xmax_of(i64 n, const T* __restrict f, const T* __restrict ts, T lo, T hi) {
    if (!ts) return (double)(vmax(f, n) * (hi - lo));
    T m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (i64 o = 0; o < n; ++o) {
        const T x = f[o] * clip_len(lo, hi, ts[o]);
        m = x > m ? x : m;
    }
    return (double)m;
}

// v(t_end) (or v(ts) per neuron, X = -int f) of neurons [o0, o1) of every sample; or, with khit, the
// first-crossing record.  wext [N + 1, 2 O]: row 0 zero, row j + 1 = [beta w | w] of input j.
// fbound >= every f (f only grows: beta w >= 0): intervals with fbound d <= xfast take the fused pass.
template <typename T>
static void exact_fwd(i64 B, i64 N, i64 O, i64 o0, i64 o1, const T* tau, const i64* perm, const T* wext,
                      const T* leak, const T* bias, double t_end_d, double fbound, const T* tstop, const T* qext,
                      const double* tab, T* vout, T* Xout, i64* khit, T* v0, T* f0, T* g0, T* lo0, T* d0, T* work) {
    const Coef<T> c(tab);
    const i64 W = 2 * O, n = o1 - o0;
    const T t_end = (T)t_end_d;
    T *f = work, *g = work + n, *vt = work + 2 * n;
    for (i64 b = 0; b < B; ++b) {
        const T* tb = tau + b * N;
        const i64* pb = perm + b * N;
        T* v = vout ? vout + b * O + o0 : vt;
        T* X = tstop ? Xout + b * O + o0 : nullptr;
        const T* ts = tstop ? tstop + b * O + o0 : nullptr;
        i64* kh = khit ? khit + b * O + o0 : nullptr;
        std::copy(leak + o0, leak + o1, f);
        std::copy(bias + o0, bias + o1, g);
        std::fill(v, v + n, T(0));
        if (X) std::fill(X, X + n, T(0));
        if (kh) std::fill(kh, kh + n, i64(-1));
        for (i64 k = 0; k <= N; ++k) {
            const T lo = k ? tb[k - 1] : T(0), hi = k < N ? tb[k] : t_end;
            const i64 j1 = k ? pb[k - 1] + 1 : 0;  // the arriving input's row (row 0: none)
            const T *rf = wext + j1 * W + o0, *rg = rf + O;
            const T* q = qext && k && lo > 0 && lo < t_end ? qext + j1 * O + o0 : nullptr;
            if (!kh && fbound * (double)(hi - lo) <= c.xfast) {
                if (ts)
                    fwd_fused<T, STOP>(n, v, f, g, rf, rg, q, lo, hi, ts, X, c);
                else if (q)
                    fwd_fused<T, PACKET>(n, v, f, g, rf, rg, q, lo, hi, ts, X, c);
                else
                    fwd_fused<T, PLAIN>(n, v, f, g, rf, rg, q, lo, hi, ts, X, c);
                continue;
            }
            vadd(f, rf, n);
            vadd(g, rg, n);
            if (q) vadd(v, q, n);
            const double xmax = xmax_of(n, f, ts, lo, hi);
            const int D = degree(c.rphi, N_RPHI, xmax);
            if (kh) {
                const i64 off = b * O + o0;
                DISPATCH_PHI(D, (cross_row<T, DD>(n, k, v, f, g, lo, hi - lo, kh, v0 + off, f0 + off, g0 + off,
                                                  lo0 + off, d0 + off, c)));
            } else if (ts) {
                DISPATCH_PHI(D, (fwd_row<T, STOP, DD>(n, v, f, g, lo, hi, ts, X, c)));
            } else {
                DISPATCH_PHI(D, (fwd_row<T, PLAIN, DD>(n, v, f, g, lo, hi, ts, X, c)));
            }
        }
    }
}

// ------------------------------------------------------------------------ exact: backward
// The adjoint sweep of _MembraneExact.backward, one interval:
//   Y += log2(e) f d,  lam1 = 2^Y gv,  [packet: jq = lam0 q, u += jq, dL/dq += lam0]
//   inc = lam1 d phi1,  dL/dg += inc,  inc *= g,  -dL/df += d (u + inc rho),
//   -dL/dtau += sum_o (w lam0 - beta w u - f_before lam0 q)  (w, beta w: the arriving row),
//   u += inc,  lam0 = lam1,  and the row of the next arriving input gets [-dL/df | dL/dg] so far.
template <typename T, int MODE>
static inline T bwd_core(T fo, T go, T rfo, T rgo, T dd, T nx, T phi, T rho, T gvo, T& Yo, T& lam0o, T& Uo,
                         T& gfno, T& ggo, T qo, T& gqo, T lo, T tso, const Coef<T>& c) {
    const T y = Yo + c.nlog2e * nx;
    Yo = y;
    const T l1 = exp2v(y) * gvo;
    const T l0 = lam0o;
    T u = Uo, jq = 0;
    if (MODE == PACKET) {
        jq = l0 * qo;
        u = u + jq;
        gqo += l0;
    }
    T inc = l1 * (phi * dd);
    ggo += inc;
    inc = inc * go;
    gfno += (u + inc * rho) * dd;
    T jm = rgo * l0 - rfo * u;
    if (MODE == PACKET) jm = jm - (fo - rfo) * jq;
    if (MODE == STOP) jm = jm * T(lo < tso);
    Uo = u + inc;
    lam0o = l1;
    return jm;
}

template <typename T, int MODE>
static T bwd_fused(i64 n, T* __restrict f, T* __restrict g, const T* __restrict rf, const T* __restrict rg,
                   const T* __restrict q, T lo, T hi, const T* __restrict ts, const T* __restrict gv, T* __restrict Y,
                   T* __restrict lam0, T* __restrict U, T* __restrict gfn, T* __restrict gg, T* __restrict gq,
                   T* __restrict gwf, T* __restrict gwg, const Coef<T>& c) {
    const T d = hi - lo;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (i64 o = 0; o < n; ++o) {
        const T rfo = rf[o], rgo = rg[o];
        const T fo = f[o] + rfo, go = g[o] + rgo;
        f[o] = fo, g[o] = go;
        const T dd = MODE == STOP ? clip_len(lo, hi, ts[o]) : d;
        const T nx = fo * -dd;
        const T phi = horner<T, Fast<T>::D>(nx, c.phi);
        const T rho = rho_series<T, Fast<T>::M>(nx, c);
        T gqo = MODE == PACKET ? gq[o] : T(0);
        T gfno = gfn[o], ggo = gg[o];
        s += bwd_core<T, MODE>(fo, go, rfo, rgo, dd, nx, phi, rho, gv[o], Y[o], lam0[o], U[o], gfno, ggo,
                               MODE == PACKET ? q[o] : T(0), gqo, lo, MODE == STOP ? ts[o] : T(0), c);
        if (MODE == PACKET) gq[o] = gqo;
        gfn[o] = gfno, gg[o] = ggo;
        gwf[o] += gfno, gwg[o] += ggo;
    }
    return s;
}

template <typename T, int MODE, int D>
static void phi_row(i64 n, const T* __restrict f, T lo, T hi, const T* __restrict ts, T* __restrict dv,
                    T* __restrict nx, T* __restrict phi, const Coef<T>& c) {
    const T d = hi - lo;
    for (i64 o = 0; o < n; ++o) {
        const T dd = MODE == STOP ? clip_len(lo, hi, ts[o]) : d;
        T x = f[o] * -dd;
        phi[o] = phi_of<T, D>(x, c);
        nx[o] = x;
        dv[o] = dd;
    }
}

template <typename T, int M>
static void rho_row(i64 n, const T* __restrict nx, const T* __restrict phi, T* __restrict rho, double xmax,
                    const Coef<T>& c) {
    if constexpr (M == PSI_PATH) {  // psi_of(...) / phi
        const int Dp = degree(c.rpsi, N_RPSI, xmax);
        const T x0 = (T)c.rpsi[N_RPSI - 1];
        for (i64 o = 0; o < n; ++o) {
            const T y = nx[o];
            T psi;
            if (Dp == 0) {
                psi = T(0.5);
            } else if (Dp > 0) {
                psi = c.psi[Dp - 1] + c.psi[Dp] * y;
                for (int k = Dp - 2; k >= 0; --k) psi = c.psi[k] + psi * y;
            } else {  // blend of the series (x < x0) and the closed form
                const T t1 = y < -x0 ? y : -x0;
                const T closed = (y * phi[o] + T(1) - phi[o]) / t1;
                const T ser = horner<T, 6>(y > -x0 ? y : -x0, c.psi);
                T w = (y + x0) * T(-1e30);
                w = w < 0 ? T(0) : (w > 1 ? T(1) : w);
                psi = w < T(0.5) ? ser + w * (closed - ser) : closed - (closed - ser) * (T(1) - w);
            }
            rho[o] = psi / phi[o];
        }
    } else {
        for (i64 o = 0; o < n; ++o) rho[o] = rho_series<T, M>(nx[o], c);
    }
}

template <typename T, int MODE>
static T bwd_row(i64 n, const T* __restrict f, const T* __restrict g, const T* __restrict rf, const T* __restrict rg,
                 const T* __restrict q, T lo, const T* __restrict ts, const T* __restrict dv, const T* __restrict nx,
                 const T* __restrict phi, const T* __restrict rho, const T* __restrict gv, T* __restrict Y,
                 T* __restrict lam0, T* __restrict U, T* __restrict gfn, T* __restrict gg, T* __restrict gq,
                 T* __restrict gwf, T* __restrict gwg, const Coef<T>& c) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (i64 o = 0; o < n; ++o) {
        T gqo = MODE == PACKET ? gq[o] : T(0);
        T gfno = gfn[o], ggo = gg[o];
        s += bwd_core<T, MODE>(f[o], g[o], rf[o], rg[o], dv[o], nx[o], phi[o], rho[o], gv[o], Y[o], lam0[o], U[o],
                               gfno, ggo, MODE == PACKET ? q[o] : T(0), gqo, lo, MODE == STOP ? ts[o] : T(0), c);
        if (MODE == PACKET) gq[o] = gqo;
        gfn[o] = gfno, gg[o] = ggo;
        gwf[o] += gfno, gwg[o] += ggo;
    }
    return s;
}

// Gradients for neurons [o0, o1): gw [N + 1, 2 O] += per input row, the sums [-dL/df | dL/dg] before its
// arrival (summed over samples); Pfin [B, 2 O] the sums over the whole phase; gt [B, N] -= dL/dtau part
// (nullable); gq [N + 1, O] += dL/dq (nullable).  X2 = log2(e) X, gv = dL/dv(T).
template <typename T>
static void exact_bwd(i64 B, i64 N, i64 O, i64 o0, i64 o1, const T* tau, const i64* perm, const T* wext,
                      const T* leak, const T* bias, double t_end_d, double fbound, const T* tstop, const T* qext,
                      const double* tab, const T* X2, const T* gvin, T* gw, T* Pfin, T* gt, T* gq, T* work) {
    const Coef<T> c(tab);
    const i64 W = 2 * O, n = o1 - o0;
    const T t_end = (T)t_end_d;
    T *f = work, *g = f + n, *dv = g + n, *nx = dv + n, *phi = nx + n, *rho = phi + n, *Y = rho + n, *lam0 = Y + n,
      *U = lam0 + n, *gfn = U + n, *gg = gfn + n, *gqs = gg + n, *sink = gqs + n;
    for (i64 b = 0; b < B; ++b) {
        const T* tb = tau + b * N;
        const i64* pb = perm + b * N;
        const T* ts = tstop ? tstop + b * O + o0 : nullptr;
        const T* gv = gvin + b * O + o0;
        std::copy(leak + o0, leak + o1, f);
        std::copy(bias + o0, bias + o1, g);
        std::copy(X2 + b * O + o0, X2 + b * O + o1, Y);
        for (i64 o = 0; o < n; ++o) lam0[o] = exp2v(Y[o]) * gv[o];
        std::fill(U, U + n, T(0));
        std::fill(gfn, gfn + n, T(0));
        std::fill(gg, gg + n, T(0));
        for (i64 k = 0; k <= N; ++k) {
            const T lo = k ? tb[k - 1] : T(0), hi = k < N ? tb[k] : t_end;
            const i64 j1 = k ? pb[k - 1] + 1 : 0;
            const T *rf = wext + j1 * W + o0, *rg = rf + O;
            const T* q = qext && k && lo > 0 && lo < t_end ? qext + j1 * O + o0 : nullptr;
            T* gqr = q ? (gq ? gq + j1 * O + o0 : gqs) : nullptr;
            T *gwf = sink, *gwg = sink + n;  // the interval that ends the phase feeds no input's row
            if (k < N) gwf = gw + (pb[k] + 1) * W + o0, gwg = gwf + O;
            T s;
            if (fbound * (double)(hi - lo) <= c.xfast) {
                if (ts)
                    s = bwd_fused<T, STOP>(n, f, g, rf, rg, q, lo, hi, ts, gv, Y, lam0, U, gfn, gg, gqr, gwf, gwg, c);
                else if (q)
                    s = bwd_fused<T, PACKET>(n, f, g, rf, rg, q, lo, hi, ts, gv, Y, lam0, U, gfn, gg, gqr, gwf, gwg, c);
                else
                    s = bwd_fused<T, PLAIN>(n, f, g, rf, rg, q, lo, hi, ts, gv, Y, lam0, U, gfn, gg, gqr, gwf, gwg, c);
            } else {
                vadd(f, rf, n);
                vadd(g, rg, n);
                const double xmax = xmax_of(n, f, ts, lo, hi);
                const int D = degree(c.rphi, N_RPHI, xmax);
                if (ts) {
                    DISPATCH_PHI(D, (phi_row<T, STOP, DD>(n, f, lo, hi, ts, dv, nx, phi, c)));
                } else {
                    DISPATCH_PHI(D, (phi_row<T, PLAIN, DD>(n, f, lo, hi, ts, dv, nx, phi, c)));
                }
                const int M = degree(c.rrho, N_RRHO, xmax);
                DISPATCH_RHO(M, (rho_row<T, MM>(n, nx, phi, rho, xmax, c)));
                if (ts)
                    s = bwd_row<T, STOP>(n, f, g, rf, rg, q, lo, ts, dv, nx, phi, rho, gv, Y, lam0, U, gfn, gg, gqr,
                                         gwf, gwg, c);
                else if (q)
                    s = bwd_row<T, PACKET>(n, f, g, rf, rg, q, lo, ts, dv, nx, phi, rho, gv, Y, lam0, U, gfn, gg,
                                           gqr, gwf, gwg, c);
                else
                    s = bwd_row<T, PLAIN>(n, f, g, rf, rg, q, lo, ts, dv, nx, phi, rho, gv, Y, lam0, U, gfn, gg, gqr,
                                          gwf, gwg, c);
            }
            if (gt && k) gt[b * N + pb[k - 1]] -= s;
        }
        std::copy(gfn, gfn + n, Pfin + b * W + o0);
        std::copy(gg, gg + n, Pfin + b * W + O + o0);
    }
}

// ------------------------------------------------------------------- DSTD: sparse hat kernel
// S_bjm = clamp((hi_m - t_bj) inv_m, 0, 1) (dstd.dstd_kernel) is 0 before input j's grid interval m0,
// S0 = S_m0 in it and 1 after ("regular"), so with D_m = S_m - S_{m-1} (S0 at m0, 1 - S0 at m0 + 1):
//     FG[b, m] = sum_j S_bjm w_j = sum_{m' <= m} sum_j D_bjm' w_j                    (forward)
//     dL/dw_j  = sum_b sum_m S_bjm dFG[b, m] = sum_b S0 dFG[b, m0] + RC[b, m0 + 1]     (RC: reverse cumsum over m)
//     dL/dt_bj = -inv_m0 dFG[b, m0] . w_j  where 0 < S0 < 1                            (dstd_kernel_input_grad)
// a few rows of length C per input instead of M of them (the GEMMs of the torch path).  The sums run
// over chunks of columns held in registers.  Inputs whose S is not of that shape after rounding
// (an input on a grid point can give S = 1 - 1 ulp in the next interval) take the general formulas
// with every step of S and every m where 0 < S < 1, as the torch path does.
template <typename T> static inline T hat(T hi, T t, T inv) {
    T s = (hi - t) * inv;
    s = s < 0 ? T(0) : s;
    return s > 1 ? T(1) : s;
}

typedef float vf __attribute__((vector_size(64)));
typedef double vd __attribute__((vector_size(64)));
template <typename T> struct Vec;
template <> struct Vec<float> { typedef vf t; };
template <> struct Vec<double> { typedef vd t; };
template <typename T> static inline typename Vec<T>::t vload(const T* p) {
    typename Vec<T>::t v;
    std::memcpy(&v, p, 64);
    return v;
}
template <typename T> static inline void vstore(T* p, typename Vec<T>::t v) { std::memcpy(p, &v, 64); }
template <typename T> static inline T hsum(typename Vec<T>::t v) {
    T s = 0;
    for (int i = 0; i < (int)(64 / sizeof(T)); ++i) s += v[i];
    return s;
}
#ifdef __AVX512F__
constexpr int NV = 8;  // 64-byte vectors per column chunk
#else
constexpr int NV = 4;
#endif

// Per input of samples [b0, b1): kind 0 (S = 0 throughout), 1 (regular: m0, S0), 2 (general)
enum { NONE = 0, REGULAR = 1, GENERAL = 2 };
template <typename T> struct Cls {
    std::vector<int32_t> m0;
    std::vector<T> s0;
    std::vector<uint8_t> kind;
};

template <typename T>
static void classify(i64 N, i64 M, i64 b0, i64 b1, const T* t, const T* hi, const T* inv, i64 per_sample, Cls<T>& c) {
    const i64 n = (b1 - b0) * N;
    c.m0.assign(n, 0), c.s0.assign(n, T(0)), c.kind.assign(n, NONE);
    for (i64 b = b0; b < b1; ++b) {
        const i64 off = per_sample ? b * M : 0;
        const T *hb = hi + off, *ib = inv + off;
        for (i64 j = 0; j < N; ++j) {
            const T tj = t[b * N + j];
            const i64 q = (b - b0) * N + j;
            i64 m = 0;
            T s = 0;
            for (; m < M; ++m)
                if ((s = hat(hb[m], tj, ib[m])) != 0) break;
            if (m == M) continue;  // never on (S = 0 everywhere)
            c.m0[q] = (int32_t)m, c.s0[q] = s;
            bool regular = true;
            for (i64 k = m + 1; k < M; ++k) regular = regular && hat(hb[k], tj, ib[k]) == T(1);
            c.kind[q] = regular ? REGULAR : GENERAL;
        }
    }
}

// chunk [c0, c0 + NC * L) of FG (L values per vector), regular inputs only, samples [b0, b1)
template <typename T, int NC>
static void spread_chunk(i64 N, i64 M, i64 C, i64 c0, i64 b0, i64 b1, const T* wT, const int32_t* start,
                         const int32_t* order, const T* s0, T* FG) {
    typedef typename Vec<T>::t V;
    constexpr int L = 64 / sizeof(T);
    for (i64 b = b0; b < b1; ++b) {
        const int32_t* st = start + (b - b0) * (M + 1);
        const int32_t* od = order + (b - b0) * N;
        const T* sv = s0 + (b - b0) * N;
        V run[NC], carry[NC];
        for (int v = 0; v < NC; ++v) run[v] = V{} , carry[v] = V{};
        for (i64 m = 0; m < M; ++m) {
            V a[NC], r[NC];
            for (int v = 0; v < NC; ++v) a[v] = V{}, r[v] = V{};
            for (int32_t q = st[m]; q < st[m + 1]; ++q) {
                const T s = sv[q], s1 = T(1) - s;
                const T* w = wT + (i64)od[q] * C + c0;
                for (int v = 0; v < NC; ++v) {
                    const V x = vload(w + v * L);
                    a[v] += s * x;
                    r[v] += s1 * x;
                }
            }
            T* out = FG + (b * M + m) * C + c0;
            for (int v = 0; v < NC; ++v) {
                run[v] += a[v] + carry[v];
                carry[v] = r[v];
                vstore(out + v * L, run[v]);
            }
        }
    }
}

template <typename T>
static void dstd_fwd(i64 N, i64 M, i64 C, i64 b0, i64 b1, const T* t, const T* hi, const T* inv, i64 per_sample,
                     const T* wT, T* FG) {
    constexpr int L = 64 / sizeof(T);
    Cls<T> cls;
    classify(N, M, b0, b1, t, hi, inv, per_sample, cls);
    // regular inputs of each sample in the order of their interval m0
    const i64 nb = b1 - b0;
    std::vector<int32_t> start(nb * (M + 1)), order(nb * N);
    std::vector<T> s0(nb * N);
    for (i64 b = 0; b < nb; ++b) {
        int32_t* st = start.data() + b * (M + 1);
        std::fill(st, st + M + 1, 0);
        for (i64 j = 0; j < N; ++j)
            if (cls.kind[b * N + j] == REGULAR) ++st[cls.m0[b * N + j] + 1];
        for (i64 m = 0; m < M; ++m) st[m + 1] += st[m];
        std::vector<int32_t> pos(st, st + M);
        for (i64 j = 0; j < N; ++j)
            if (cls.kind[b * N + j] == REGULAR) {
                const int32_t q = pos[cls.m0[b * N + j]]++;
                order[b * N + q] = (int32_t)j, s0[b * N + q] = cls.s0[b * N + j];
            }
    }
    i64 c0 = 0;
    for (; c0 + NV * L <= C; c0 += NV * L)
        spread_chunk<T, NV>(N, M, C, c0, b0, b1, wT, start.data(), order.data(), s0.data(), FG);
    for (; c0 + L <= C; c0 += L)
        spread_chunk<T, 1>(N, M, C, c0, b0, b1, wT, start.data(), order.data(), s0.data(), FG);
    if (c0 < C) {  // the last columns (fewer than one vector)
        for (i64 b = b0; b < b1; ++b) {
            const int32_t* st = start.data() + (b - b0) * (M + 1);
            T* acc = FG + b * M * C;
            for (i64 m = 0; m < M; ++m)
                for (i64 c = c0; c < C; ++c) acc[m * C + c] = 0;
            for (i64 m = 0; m < M; ++m)
                for (int32_t q = st[m]; q < st[m + 1]; ++q) {
                    const T s = s0[(b - b0) * N + q];
                    const T* w = wT + (i64)order[(b - b0) * N + q] * C;
                    for (i64 c = c0; c < C; ++c) {
                        acc[m * C + c] += s * w[c];
                        if (m + 1 < M) acc[(m + 1) * C + c] += (T(1) - s) * w[c];
                    }
                }
            for (i64 m = 1; m < M; ++m)
                for (i64 c = c0; c < C; ++c) acc[m * C + c] += acc[(m - 1) * C + c];
        }
    }
    // general inputs: each step of S adds to its interval and every later one
    for (i64 b = b0; b < b1; ++b) {
        const i64 off = per_sample ? b * M : 0;
        for (i64 j = 0; j < N; ++j) {
            if (cls.kind[(b - b0) * N + j] != GENERAL) continue;
            T prev = 0;
            for (i64 m = 0; m < M; ++m) {
                const T s = hat(hi[off + m], t[b * N + j], inv[off + m]);
                if (s != prev)
                    for (i64 k = m; k < M; ++k) vaxpy(FG + (b * M + k) * C, s - prev, wT + j * C, C);
                prev = s;
            }
        }
    }
}

// chunk [c0, c0 + NC * L) of dL/dw_j (the tile's regular inputs j, listed: dFG row f0, RC row r1,
// S0), their dot products with w_j into dacc
template <typename T, int NC, bool NEEDW, bool NEEDT>
static void gather_chunk(i64 n, const i64* __restrict f0, const i64* __restrict r1, const T* __restrict sv,
                         const T* dFG, const T* RC, const T* w, T* g, typename Vec<T>::t* __restrict dacc) {
    typedef typename Vec<T>::t V;
    constexpr int L = 64 / sizeof(T);
    V wv[NC], acc[NC];
    for (int v = 0; v < NC; ++v) wv[v] = vload(w + v * L), acc[v] = V{};
    for (i64 i = 0; i < n; ++i) {
        const T s = sv[i];
        const T *f = dFG + f0[i], *r = RC + r1[i];
        V d[4] = {V{}, V{}, V{}, V{}};  // four chains: the dot product is not one long dependency
        for (int v = 0; v < NC; ++v) {
            const V x = vload(f + v * L);
            if (NEEDW) acc[v] += s * x + vload(r + v * L);
            if (NEEDT) d[v & 3] += x * wv[v];
        }
        if (NEEDT) dacc[i] += (d[0] + d[1]) + (d[2] + d[3]);
    }
    if (NEEDW)
        for (int v = 0; v < NC; ++v) vstore(g + v * L, vload(g + v * L) + acc[v]);
}

template <typename T, bool NEEDW, bool NEEDT>
static void gather_tile(i64 N, i64 M, i64 C, i64 s0b, i64 s1b, i64 b0, const T* wT, const T* dFG, const T* RC,
                        const Cls<T>& cls, const T* inv, i64 per_sample, T* gwT, T* gt) {
    typedef typename Vec<T>::t V;
    constexpr int L = 64 / sizeof(T);
    const i64 nt = s1b - s0b;
    std::vector<V> dacc(nt);
    std::vector<i64> f0(nt), r1(nt), bs(nt);
    std::vector<T> sv(nt);
    for (i64 j = 0; j < N; ++j) {
        i64 n = 0;
        for (i64 b = s0b; b < s1b; ++b) {
            const i64 q = (b - b0) * N + j;
            if (cls.kind[q] != REGULAR) continue;
            const i64 m0 = cls.m0[q];
            f0[n] = (b * M + m0) * C, r1[n] = ((b - s0b) * (M + 1) + m0 + 1) * C, sv[n] = cls.s0[q], bs[n] = b, ++n;
        }
        std::fill(dacc.begin(), dacc.begin() + n, V{});
        const T* w = wT + j * C;
        T* g = gwT ? gwT + j * C : nullptr;
        i64 c0 = 0;
#define CHUNK(NC) gather_chunk<T, NC, NEEDW, NEEDT>(n, f0.data(), r1.data(), sv.data(), dFG + c0, RC + c0, w + c0, \
                                                    g ? g + c0 : nullptr, dacc.data())
        for (; c0 + 8 * L <= C; c0 += 8 * L) CHUNK(8);
        if (c0 + 4 * L <= C) CHUNK(4), c0 += 4 * L;
        if (c0 + 2 * L <= C) CHUNK(2), c0 += 2 * L;
        if (c0 + L <= C) CHUNK(1), c0 += L;
#undef CHUNK
        for (i64 i = 0; i < n; ++i) {
            const T s = sv[i];
            const T *f = dFG + f0[i], *r = RC + r1[i];
            T dot = NEEDT ? hsum<T>(dacc[i]) : T(0);
            for (i64 c = c0; c < C; ++c) {  // the last columns (fewer than one vector)
                if (NEEDW) g[c] += s * f[c] + r[c];
                dot += f[c] * w[c];
            }
            if (NEEDT) {
                const i64 b = bs[i], m0 = cls.m0[(b - b0) * N + j];
                gt[b * N + j] = s < T(1) ? -(inv[(per_sample ? b * M : 0) + m0] * dot) : T(0);
            }
        }
    }
}

template <typename T>
static void dstd_bwd(i64 N, i64 M, i64 C, i64 b0, i64 b1, const T* t, const T* hi, const T* inv, i64 per_sample,
                     const T* wT, const T* dFG, T* gwT, T* gt, T* RC, i64 TB) {
    Cls<T> cls;
    classify(N, M, b0, b1, t, hi, inv, per_sample, cls);
    if (gt)
        for (i64 b = b0; b < b1; ++b) std::fill(gt + b * N, gt + (b + 1) * N, T(0));
    for (i64 s0b = b0; s0b < b1; s0b += TB) {
        const i64 s1b = std::min(b1, s0b + TB);
        for (i64 b = s0b; b < s1b; ++b) {  // RC[m] = sum_{m' >= m} dFG[m'], RC[M] = 0
            T* R = RC + (b - s0b) * (M + 1) * C;
            const T* dF = dFG + b * M * C;
            std::fill(R + M * C, R + (M + 1) * C, T(0));
            for (i64 m = M - 1; m >= 0; --m) {
                T* __restrict r = R + m * C;
                const T *__restrict r1 = r + C, *__restrict x = dF + m * C;
#pragma omp simd
                for (i64 c = 0; c < C; ++c) r[c] = x[c] + r1[c];
            }
        }
        if (gwT && gt)
            gather_tile<T, true, true>(N, M, C, s0b, s1b, b0, wT, dFG, RC, cls, inv, per_sample, gwT, gt);
        else if (gwT)
            gather_tile<T, true, false>(N, M, C, s0b, s1b, b0, wT, dFG, RC, cls, inv, per_sample, gwT, gt);
        else if (gt)
            gather_tile<T, false, true>(N, M, C, s0b, s1b, b0, wT, dFG, RC, cls, inv, per_sample, gwT, gt);
        // general inputs: every step of S (weights), every m where 0 < S < 1 (input time)
        for (i64 b = s0b; b < s1b; ++b) {
            const i64 off = per_sample ? b * M : 0;
            const T* R = RC + (b - s0b) * (M + 1) * C;
            for (i64 j = 0; j < N; ++j) {
                if (cls.kind[(b - b0) * N + j] != GENERAL) continue;
                T prev = 0, gs = 0;
                for (i64 m = 0; m < M; ++m) {
                    const T s = hat(hi[off + m], t[b * N + j], inv[off + m]);
                    if (s != prev && gwT) vaxpy(gwT + j * C, s - prev, R + m * C, C);
                    prev = s;
                    if (s > 0 && s < 1) gs += inv[off + m] * vdot(dFG + (b * M + m) * C, wT + j * C, C);
                }
                if (gt) gt[b * N + j] = -gs;
            }
        }
    }
}

// samples per tile of dstd_bwd: their rows of dFG and RC stay in L2 while the weight rows stream past
static inline i64 bwd_tile(i64 M, i64 C, i64 size) {
    const i64 t = (i64)(BWD_TILE_BYTES) / std::max<i64>(1, (2 * M + 1) * C * size);
    return std::max<i64>(1, std::min<i64>(t, 64));
}
}  // namespace

// ------------------------------------------------------------------------------ exported
#define API extern "C" __attribute__((visibility("default")))

API int circuitnet_kernels_version() { return 2; }

#define SORT_ROWS(SFX, T, U)                                                                              \
    API int sort_rows##SFX(i64 N, i64 b0, i64 b1, const T* t, double t_end, T* tau, i64* perm) {            \
        radix_rows<T, U>(b0, b1, N, t, t_end, tau, perm);                                                 \
        return 0;                                                                                         \
    }
SORT_ROWS(_f32, float, uint32_t)
SORT_ROWS(_f64, double, uint64_t)

#define EXACT_FWD(SFX, T)                                                                                     \
    API int exact_fwd##SFX(i64 B, i64 N, i64 O, i64 o0, i64 o1, const T* tau, const i64* perm, const T* wext, \
                           const T* leak, const T* bias, double t_end, double fbound, const T* tstop,          \
                           const T* qext, const double* tab, T* vout, T* Xout, i64* khit, T* v0, T* f0, T* g0, \
                           T* lo0, T* d0, T* work) {                                                           \
        if (tstop && (qext || khit)) return 1;                                                                 \
        exact_fwd<T>(B, N, O, o0, o1, tau, perm, wext, leak, bias, t_end, fbound, tstop, qext, tab, vout, Xout, \
                     khit, v0, f0, g0, lo0, d0, work);                                                          \
        return 0;                                                                                              \
    }
EXACT_FWD(_f32, float)
EXACT_FWD(_f64, double)

#define EXACT_BWD(SFX, T)                                                                                     \
    API int exact_bwd##SFX(i64 B, i64 N, i64 O, i64 o0, i64 o1, const T* tau, const i64* perm, const T* wext, \
                           const T* leak, const T* bias, double t_end, double fbound, const T* tstop,          \
                           const T* qext, const double* tab, const T* X2, const T* gv, T* gw, T* Pfin, T* gt,  \
                           T* gq, T* work) {                                                                   \
        if (tstop && qext) return 1;                                                                           \
        exact_bwd<T>(B, N, O, o0, o1, tau, perm, wext, leak, bias, t_end, fbound, tstop, qext, tab, X2, gv, gw, \
                     Pfin, gt, gq, work);                                                                       \
        return 0;                                                                                              \
    }
EXACT_BWD(_f32, float)
EXACT_BWD(_f64, double)

#define DSTD_FWD(SFX, T)                                                                                  \
    API int dstd_fwd##SFX(i64 N, i64 M, i64 C, i64 b0, i64 b1, const T* t, const T* hi, const T* inv,     \
                          i64 per_sample, const T* wT, T* FG) {                                            \
        dstd_fwd<T>(N, M, C, b0, b1, t, hi, inv, per_sample, wT, FG);                                      \
        return 0;                                                                                          \
    }
DSTD_FWD(_f32, float)
DSTD_FWD(_f64, double)

#define DSTD_BWD(SFX, T)                                                                                  \
    API int dstd_bwd##SFX(i64 N, i64 M, i64 C, i64 b0, i64 b1, const T* t, const T* hi, const T* inv,     \
                          i64 per_sample, const T* wT, const T* dFG, T* gwT, T* gt, T* work) {             \
        dstd_bwd<T>(N, M, C, b0, b1, t, hi, inv, per_sample, wT, dFG, gwT, gt, work, bwd_tile(M, C, sizeof(T))); \
        return 0;                                                                                          \
    }

// work size (elements) dstd_bwd needs
API i64 dstd_bwd_work(i64 M, i64 C, i64 size) { return bwd_tile(M, C, size) * (M + 1) * C; }
DSTD_BWD(_f32, float)
DSTD_BWD(_f64, double)
