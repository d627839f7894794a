// Packed calls and pool slots (SPEC.md section 8). A packed sweep runs the dense sweep's body
// unchanged on a copy of its parameters rebound to one sequence: the block's sequence and head
// come from blockIdx.x, its tokens from an int64 range table, and every per-sequence address is
// shifted so that the body's own indexing (by blockIdx.x, from token 0 of the sequence) lands on
// that sequence. The dense kernels are thus the same code as without packing, and every pass of
// the forward and the backward is packed by one wrapper.
//
// Packed grid: (S*H, segments of the longest sequence, value tiles). Block x works on head
// x % H of sequence order[x / H]: the host lists the sequences longest first, so the longest
// segments start first and the short ones fill the tail. A sequence of n tokens has
// max(1, ceil(n / L)) segments; blocks of its other segments exit at once. Segment scratch keeps
// the dense layout [S*H][nseg-1][...] with nseg that of the longest sequence.
#pragma once

#include "common.cuh"
#include "decode.cuh"
#include "params.cuh"

// Where a packed block's sequence lies: its tokens, its index among the S*H sequence-heads, and
// the offset (in sequence-heads) from the one the body would index by blockIdx.x.
struct PackedSequence {
    i64 start, n, seq, shift, nseg;
};

__device__ __forceinline__ PackedSequence packedSequence(const PackedParams& pk, i64 H, i64 L) {
    const i64 x = blockIdx.x, h = x % H;
    const i64 i = pk.order[x / H];
    const i64 start = pk.ranges[2 * i], n = pk.ranges[2 * i + 1] - start;
    const i64 seq = i * H + h;
    return PackedSequence{start, n, seq, seq - x, n == 0 ? 1 : (n + L - 1) / L};
}

// Advances an operand to token `start` of its sequence, of token-major tensors (the batch stride zeroed).
template <typename T>
__device__ __forceinline__ const void* atToken(const void* base, i64 start, i64 stride) {
    return base ? (const void*) ((const T*) base + start * stride) : base;
}

// The fields SweepParams and DecaySweepParams share: operands from the sequence's first token
// (batch strides zeroed), per-sequence states and sums shifted to its index, its own segment count
// with the scratch shifted so that the body's slot (x*(nseg-1) + g) is the dense layout's
// (seq*(nsegAll-1) + g). scratchStates: states per scratch slot (1, or S and T in the decay sweep).
template <typename T, typename P>
__device__ __forceinline__ void rebindCommon(P& p, const PackedSequence& s, i64 scratchStates) {
    const i64 DkDv = p.Dk * p.Dv, x = blockIdx.x;
    p.q = atToken<T>(p.q, s.start, p.kT);
    p.k = atToken<T>(p.k, s.start, p.kT);
    p.v = atToken<T>(p.v, s.start, p.vT);
    p.kB = 0;
    p.vB = 0;
    p.N = s.n;
    if (p.s0) p.s0 += s.shift * DkDv;
    if (p.acc) p.acc += s.shift;
    if (p.scratch) p.scratch += (s.seq * (p.nseg - 1) - x * (s.nseg - 1)) * DkDv * scratchStates;
    p.nseg = s.nseg;
}

// Whether a packed block has work: one of the sequence's segments (mode 0: one before the last)
// is its segment (blockIdx.y), or, for a scan, the sequence has segments to chain.
__device__ __forceinline__ bool hasWork(const PackedSequence& s, i64 mode, bool scan) {
    return scan ? s.nseg >= 2 : (i64) blockIdx.y < (mode == 1 ? s.nseg : s.nseg - 1);
}

// SweepParams for packed block blockIdx.x; false when the block has nothing to compute: its
// segment (blockIdx.y) holds no tokens of the sequence, or a scan has no segments to chain. A
// zero-length sequence keeps one segment of no chunks, whose block carries s0 to sfinal unchanged
// (finalPow 0; SPEC.md section 8): no separate path, which would weigh on the body's registers.
template <typename T>
__device__ __forceinline__ bool rebindSweep(SweepParams& p, const PackedParams& pk, bool scan) {
    const PackedSequence s = packedSequence(pk, p.H, p.L);
    if (!hasWork(s, p.mode, scan)) return false;
    rebindCommon<T>(p, s, 1);
    p.w = atToken<T>(p.w, s.start, p.vT);
    p.o = (void*) atToken<T>(p.o, s.start, p.vT);
    if (p.sfinal) p.sfinal += s.shift * p.Dk * p.Dv;
    if (s.n == 0) p.finalPow = 0;
    return true;
}

// As rebindSweep for the decay gradient's sweep, where an empty sequence adds nothing.
template <typename T>
__device__ __forceinline__ bool rebindDecaySweep(DecaySweepParams& p, const PackedParams& pk, bool scan) {
    const PackedSequence s = packedSequence(pk, p.H, p.L);
    if (s.n == 0 || !hasWork(s, p.mode, scan)) return false;
    rebindCommon<T>(p, s, 2);
    p.dO = atToken<T>(p.dO, s.start, p.vT);
    if (p.dSf) p.dSf += s.shift * p.Dk * p.Dv;
    return true;
}

// Decode by slot (la2_decode_*_slots): the block's tile (decodeTile) is sequence-head x = j H + h,
// and its sequence is i = order[j], whose state is pool slot slots[i]. The host lists the
// sequences by slot, so blocks running together stream through neighbouring parts of the pool
// whatever order the caller's slots are in; every per-sequence address is shifted from j's rows
// to i's. Slot -1 writes the tile's slice of a zero output row and leaves the pool alone. False:
// padding.
template <typename T>
__device__ __forceinline__ bool rebindDecode(DecodeParams& p, const SlotParams& sp) {
    const i64 j = (u32) decodeTile(p).seq / (u32) p.H;
    const i64 i = sp.order[j], slot = sp.slots[i];
    p.q = (const T*) p.q + (i - j) * p.H * p.D;
    p.k = (const T*) p.k + (i - j) * p.H * p.D;
    p.v = (const T*) p.v + (i - j) * p.H * p.E;
    p.o = (T*) p.o + (i - j) * p.H * p.E;
    if (slot < 0) {
        decodeZeroRow<T>(p);
        return false;
    }
    p.state += (slot - j) * p.H * p.D * p.E;
    return true;
}

// la2_slot_copy: gathers pool slots into dense states (scatter 0: dense[i] = pool[slots[i]], zero
// for slot -1) or scatters them back (scatter 1: pool[slots[i]] = dense[i], nothing for slot -1).
// grid (S, pieces of a state), 256 threads.
__device__ __forceinline__ void slotCopy(const SlotCopyParams& p) {
    const i64 i = blockIdx.x, slot = p.slots[i];
    if (p.scatter && slot < 0) return;
    float* dense = p.dense + i * p.stateSize;
    float* pool = p.pool + slot * p.stateSize;
    for (i64 j = (i64) blockIdx.y * blockDim.x + threadIdx.x; j < p.stateSize; j += (i64) gridDim.y * blockDim.x) {
        if (p.scatter) {
            pool[j] = dense[j];
        } else {
            dense[j] = slot < 0 ? 0.f : pool[j];
        }
    }
}

// la2_zero_rows: zeroes row i (rowBytes bytes at base + i * rowBytes) of every sequence whose slot
// is -1: a draft's padding outputs. grid (S), 256 threads.
__device__ __forceinline__ void zeroRows(const ZeroRowsParams& p) {
    const i64 i = blockIdx.x;
    if (p.slots[i] >= 0) return;
    unsigned char* row = (unsigned char*) p.base + i * p.rowBytes;
    for (i64 j = threadIdx.x; j < p.rowBytes; j += blockDim.x) row[j] = 0;
}

// Entry points of la2_kernels.cu: a dense kernel's body on parameters rebound to a packed call's
// sequence (rebindSweep, rebindDecaySweep) or to a pool slot (rebindDecode). The parameter struct
// is rebound in place, never through a modified copy of a const parameter: nvcc 13.0 compiles such
// a copy's later reads of its first field (q) from the unmodified parameter, so every sequence but
// the first would read another sequence's queries. The same holds for the packed entry points of
// sweep_mma.cuh and sweep_wide.cuh.
#define LA2_PACKED_SWEEP(name, T, body, scan) \
    extern "C" __global__ void __launch_bounds__(256) name(SweepParams p, const PackedParams pk) { \
        if (rebindSweep<T>(p, pk, scan)) body(p); \
    }
#define LA2_PACKED_DECAY(name, T, body, scan) \
    extern "C" __global__ void __launch_bounds__(256) name(DecaySweepParams p, const PackedParams pk) { \
        if (rebindDecaySweep<T>(p, pk, scan)) body(p); \
    }
#define LA2_DECODE_SLOTS(name, T) \
    extern "C" __global__ void __launch_bounds__(DECODE_THREADS, DECODE_MIN_BLOCKS) name(DecodeParams p, const SlotParams sp) { \
        if (rebindDecode<T>(p, sp)) decodeImpl<T>(p); \
    }
