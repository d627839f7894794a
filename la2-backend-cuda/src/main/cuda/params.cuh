// Kernel parameter structs, passed by value. Every field is 8 bytes (a pointer, i64 or double),
// so a struct is its fields in order with no padding: the offset of field i is 8 i. The Java side
// mirrors each struct field for field (ParamLayouts.java); ParamLayoutTest checks the names and
// indices below against it, and the static_asserts pin them for the compiler.
#pragma once

#include <stddef.h>
#include "common.cuh"

// One pass of a sweep (sweep_generic.cuh, sweep_mma.cuh, sweep_wide.cuh) and of la2_scan.
// Tensor fields are the sweep's operands in the function of common.cuh; which call tensors they
// are depends on the pass (forward, dq, dv, dk, the decay gradient's recompute).
struct SweepParams {
    const void* q;       // key-like: [seq][token][Dk]
    const void* k;
    const void* v;       // value-like: [seq][token][Dv]
    void* o;
    const void* w;       // optional value-like weights: acc[seq] += sum_t treal * <o_t, w_t>
    const float* s0;     // optional initial state, element (i, j) at seq*Dk*Dv + i*s0i + j*s0j
    float* sfinal;       // optional final state, element (i, j) at seq*Dk*Dv + i*fi + j*fj
    float* scratch;      // [BH][nseg-1][Dk][Dv] segment states
    const float* decay;  // [H]
    double* acc;         // [BH], with w
    i64 N, H, BH, Dk, Dv, ET, C, L, nseg, mode, rev, ofs0, finalPow, writeOut;
    i64 kB, kH, kT;      // strides of key-like tensors (elements)
    i64 vB, vH, vT;      // strides of value-like tensors
    i64 s0i, s0j, fi, fj;
    double alpha, beta, kappa;
};

// The decay gradient from the identity's sums (decay.cuh, la2_decay_grad).
struct DecayGradParams {
    const double* accV;
    const double* accO;
    const float* dS0;
    const float* s0;     // may be null
    const float* dSf;    // may be null
    const float* sfin;   // may be null
    float* dDecay;
    i64 B, H, N, DkDv;
};

// The decay gradient's sweep carrying T = -dS/ds (decay.cuh, la2_decay_sweep_*, la2_decay_scan).
struct DecaySweepParams {
    const void* q;
    const void* k;
    const void* v;
    const void* dO;
    void* dq;            // [seq][token][Dk], k's strides: written by the Hopper sweep (the double sweep takes null)
    const float* s0;     // optional [BH][Dk][Dv]
    const float* dSf;    // optional [BH][Dk][Dv]
    double* scratch;     // [BH][nseg-1][2][Dk][Dv]: S then T of each segment but the last
    const float* decay;  // [H]
    double* acc;         // [BH]: c sum_t q_t T_t dO_t^T + <dS_final, T_{N-1}>
    i64 N, H, Dk, Dv, ET, C, L, nseg, mode;
    i64 kB, kH, kT;
    i64 vB, vH, vT;
    double scale;
};

// dDecay[h] = -sum_b acc[b, h] (decay.cuh, la2_decay_sum).
struct DecaySumParams {
    const double* acc;
    float* dDecay;
    i64 B, H;
};

// One decode step (decode.cuh): q, k [BH][D], v, o [BH][E], state [BH][D][E].
struct DecodeParams {
    const void* q;
    const void* k;
    const void* v;
    const float* decay;
    float* state;
    void* o;
    i64 H, D, E;
    double scale;
};

// Device-drawn benchmark inputs (utilities.cuh, la2_random_*).
struct RandomParams {
    void* out;
    i64 n;
    i64 seed;
    double stddev;
};

// Element-for-element storage conversion (utilities.cuh, la2_widen_*, la2_narrow_*).
struct ConvertParams {
    const void* src;
    void* dst;
    i64 n;
};

// The sequences of a packed call (packed.cuh), the second parameter of every la2_*_packed
// kernel: sequence i is tokens ranges[2i] .. ranges[2i+1]-1 of token-major tensors; blocks take
// the sequences in the order `order` lists them.
struct PackedParams {
    const i64* ranges;   // [S][2]
    const i64* order;    // [S]
};

// The second parameter of la2_decode_*_slots (packed.cuh): DecodeParams.state is the pool
// [P][H][D][E], sequence i advances slot slots[i] (-1: padding); the blocks take the sequences in
// the order `order` lists them (by slot).
struct SlotParams {
    const i64* slots;    // [S]
    const i64* order;    // [S]
};

// Gathers pool slots into dense states or scatters them back (packed.cuh, la2_slot_copy).
struct SlotCopyParams {
    float* pool;         // [P][stateSize]
    float* dense;        // [S][stateSize]
    const i64* slots;    // [S]
    i64 stateSize, scatter;
};

// Zeroes the rows of padding sequences (packed.cuh, la2_zero_rows).
struct ZeroRowsParams {
    void* base;          // [S][rowBytes]
    const i64* slots;    // [S]
    i64 rowBytes;
};

#define LA2_FIELDS(S, count) static_assert(sizeof(S) == 8 * (count), #S " has " #count " fields of 8 bytes")
#define LA2_AT(S, field, index) static_assert(offsetof(S, field) == 8 * (index), #S "." #field " at index " #index)

LA2_FIELDS(SweepParams, 37);
LA2_AT(SweepParams, q, 0);
LA2_AT(SweepParams, k, 1);
LA2_AT(SweepParams, v, 2);
LA2_AT(SweepParams, o, 3);
LA2_AT(SweepParams, w, 4);
LA2_AT(SweepParams, s0, 5);
LA2_AT(SweepParams, sfinal, 6);
LA2_AT(SweepParams, scratch, 7);
LA2_AT(SweepParams, decay, 8);
LA2_AT(SweepParams, acc, 9);
LA2_AT(SweepParams, N, 10);
LA2_AT(SweepParams, H, 11);
LA2_AT(SweepParams, BH, 12);
LA2_AT(SweepParams, Dk, 13);
LA2_AT(SweepParams, Dv, 14);
LA2_AT(SweepParams, ET, 15);
LA2_AT(SweepParams, C, 16);
LA2_AT(SweepParams, L, 17);
LA2_AT(SweepParams, nseg, 18);
LA2_AT(SweepParams, mode, 19);
LA2_AT(SweepParams, rev, 20);
LA2_AT(SweepParams, ofs0, 21);
LA2_AT(SweepParams, finalPow, 22);
LA2_AT(SweepParams, writeOut, 23);
LA2_AT(SweepParams, kB, 24);
LA2_AT(SweepParams, kH, 25);
LA2_AT(SweepParams, kT, 26);
LA2_AT(SweepParams, vB, 27);
LA2_AT(SweepParams, vH, 28);
LA2_AT(SweepParams, vT, 29);
LA2_AT(SweepParams, s0i, 30);
LA2_AT(SweepParams, s0j, 31);
LA2_AT(SweepParams, fi, 32);
LA2_AT(SweepParams, fj, 33);
LA2_AT(SweepParams, alpha, 34);
LA2_AT(SweepParams, beta, 35);
LA2_AT(SweepParams, kappa, 36);

LA2_FIELDS(DecayGradParams, 11);
LA2_AT(DecayGradParams, accV, 0);
LA2_AT(DecayGradParams, accO, 1);
LA2_AT(DecayGradParams, dS0, 2);
LA2_AT(DecayGradParams, s0, 3);
LA2_AT(DecayGradParams, dSf, 4);
LA2_AT(DecayGradParams, sfin, 5);
LA2_AT(DecayGradParams, dDecay, 6);
LA2_AT(DecayGradParams, B, 7);
LA2_AT(DecayGradParams, H, 8);
LA2_AT(DecayGradParams, N, 9);
LA2_AT(DecayGradParams, DkDv, 10);

LA2_FIELDS(DecaySweepParams, 26);
LA2_AT(DecaySweepParams, q, 0);
LA2_AT(DecaySweepParams, k, 1);
LA2_AT(DecaySweepParams, v, 2);
LA2_AT(DecaySweepParams, dO, 3);
LA2_AT(DecaySweepParams, dq, 4);
LA2_AT(DecaySweepParams, s0, 5);
LA2_AT(DecaySweepParams, dSf, 6);
LA2_AT(DecaySweepParams, scratch, 7);
LA2_AT(DecaySweepParams, decay, 8);
LA2_AT(DecaySweepParams, acc, 9);
LA2_AT(DecaySweepParams, N, 10);
LA2_AT(DecaySweepParams, H, 11);
LA2_AT(DecaySweepParams, Dk, 12);
LA2_AT(DecaySweepParams, Dv, 13);
LA2_AT(DecaySweepParams, ET, 14);
LA2_AT(DecaySweepParams, C, 15);
LA2_AT(DecaySweepParams, L, 16);
LA2_AT(DecaySweepParams, nseg, 17);
LA2_AT(DecaySweepParams, mode, 18);
LA2_AT(DecaySweepParams, kB, 19);
LA2_AT(DecaySweepParams, kH, 20);
LA2_AT(DecaySweepParams, kT, 21);
LA2_AT(DecaySweepParams, vB, 22);
LA2_AT(DecaySweepParams, vH, 23);
LA2_AT(DecaySweepParams, vT, 24);
LA2_AT(DecaySweepParams, scale, 25);

LA2_FIELDS(DecaySumParams, 4);
LA2_AT(DecaySumParams, acc, 0);
LA2_AT(DecaySumParams, dDecay, 1);
LA2_AT(DecaySumParams, B, 2);
LA2_AT(DecaySumParams, H, 3);

LA2_FIELDS(DecodeParams, 10);
LA2_AT(DecodeParams, q, 0);
LA2_AT(DecodeParams, k, 1);
LA2_AT(DecodeParams, v, 2);
LA2_AT(DecodeParams, decay, 3);
LA2_AT(DecodeParams, state, 4);
LA2_AT(DecodeParams, o, 5);
LA2_AT(DecodeParams, H, 6);
LA2_AT(DecodeParams, D, 7);
LA2_AT(DecodeParams, E, 8);
LA2_AT(DecodeParams, scale, 9);

LA2_FIELDS(RandomParams, 4);
LA2_AT(RandomParams, out, 0);
LA2_AT(RandomParams, n, 1);
LA2_AT(RandomParams, seed, 2);
LA2_AT(RandomParams, stddev, 3);

LA2_FIELDS(ConvertParams, 3);
LA2_AT(ConvertParams, src, 0);
LA2_AT(ConvertParams, dst, 1);
LA2_AT(ConvertParams, n, 2);

LA2_FIELDS(PackedParams, 2);
LA2_AT(PackedParams, ranges, 0);
LA2_AT(PackedParams, order, 1);

LA2_FIELDS(SlotParams, 2);
LA2_AT(SlotParams, slots, 0);
LA2_AT(SlotParams, order, 1);

LA2_FIELDS(SlotCopyParams, 5);
LA2_AT(SlotCopyParams, pool, 0);
LA2_AT(SlotCopyParams, dense, 1);
LA2_AT(SlotCopyParams, slots, 2);
LA2_AT(SlotCopyParams, stateSize, 3);
LA2_AT(SlotCopyParams, scatter, 4);

LA2_FIELDS(ZeroRowsParams, 3);
LA2_AT(ZeroRowsParams, base, 0);
LA2_AT(ZeroRowsParams, slots, 1);
LA2_AT(ZeroRowsParams, rowBytes, 2);

#undef LA2_FIELDS
#undef LA2_AT
