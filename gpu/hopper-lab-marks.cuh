// hopper-lab's timeline marks (common.cuh's LA2_MARK), in a build with -DLA2_LAB_TRACE: while
// gLabMarks is set, thread 0 of each block records (globaltimer, clock64, kind) at the kernels'
// marks of kinds below 8, thread 128 at kinds 8 to 11 and thread 256 from 12 on (common.cuh), at
// most gLabMarkCap per block (unused entries keep the kind 255 the lab fills them with). Included
// before the kernels, so the mark kinds are spelled out here.
#pragma once

#ifdef LA2_LAB_TRACE
#define LA2_MARK_ENTRY 0
struct LabMark {
    unsigned long long ns, clk;  // clk's top byte: the mark's kind
};
__device__ LabMark* gLabMarks;
__device__ int gLabMarkCap;

// The block's count of marks lives in shared memory (a global counter would put a load on thread
// 0's path, which issues the loads of TMA passes); LA2_MARK_ENTRY restarts it, before the block's
// first barrier, so before thread 128's and thread 256's first marks.
__device__ __forceinline__ void labMark(int kind) {
    __shared__ int count;
    if (threadIdx.x != (kind < 8 ? 0 : kind < 12 ? 128 : 256)) return;
    LabMark* m = gLabMarks;
    if (m == nullptr) return;
    const int n = kind == LA2_MARK_ENTRY ? (count = 1, 0) : atomicAdd(&count, 1);
    if (n >= gLabMarkCap) return;
    unsigned long long ns;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
    const unsigned long long clk = (unsigned long long) clock64();
    const long long blk = blockIdx.x + (long long) gridDim.x * blockIdx.y;
    m[blk * gLabMarkCap + n] = {ns, clk | ((unsigned long long) kind << 56)};
}
#define LA2_MARK(kind) labMark(kind)
#endif
