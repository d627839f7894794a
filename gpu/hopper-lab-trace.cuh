// hopper-lab's trace section (a build with -DLA2_LAB_TRACE; without it the section says so), included
// by hopper-lab.cu after the dkdv and tf32 sections' helpers: where a pass's time goes at short and
// long sequences. Each pass runs once untimed, once timed by events, then once with the timeline
// marks on (hopper-lab-marks.cuh); per block: its entry against the earliest block's, the wait for
// the first chunk, the chunk intervals (early, steady, last), the exit after the last chunk, and the
// kernel's end against its event time. Passes: the 16-bit forward (TMA entry point), the dq pass
// (roles), the fused dk + dv pass, the TF32 forward.
#pragma once

#ifdef LA2_LAB_TRACE
static double pct(std::vector<double> v, double p) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, (size_t) (p * (v.size() - 1) + 0.5))];
}

static const char* markName(int kind) {
    return kind == LA2_MARK_CHUNK ? "chunk ready"
           : kind == LA2_MARK_DONE ? "chunk done"
           : kind == LA2_MARK_WAIT ? "wait for chunk"
           : kind == LA2_MARK_STORED ? "outputs stored"
           : kind == LA2_MARK_STATE_CHUNK ? "state: chunk ready"
           : kind == LA2_MARK_STATE_DONE ? "state: chunk done"
           : kind == LA2_MARK_STATE_COPY ? "state: copy handed on"
           : kind == LA2_MARK_STATE_LOADED ? "state: loaded"
           : kind == LA2_MARK_CONVERT_FREE ? "convert: stage free"
           : kind == LA2_MARK_CONVERT_LANDED ? "convert: tile landed"
           : kind == LA2_MARK_CONVERT_DONE ? "convert: handed on"
                                           : "other";
}

// Runs `once` with the marks on for a grid of `blocks` blocks and prints the timeline's summary.
template <typename F>
static void traceOne(const char* name, long long blocks, long long tokens, F once) {
    once();
    CK(cudaDeviceSynchronize());
    const double ms = timeMs(once);
    const int cap = 8 * (int) ((tokens + 63) / 64) + 16;  // marks a chunk: 1, the roles pass 5, the TF32 sweep 7
    LabMark* marks;
    CK(cudaMalloc(&marks, blocks * cap * sizeof(LabMark)));
    CK(cudaMemset(marks, 0xff, blocks * cap * sizeof(LabMark)));
    CK(cudaMemcpyToSymbol(gLabMarkCap, &cap, sizeof cap));
    CK(cudaMemcpyToSymbol(gLabMarks, &marks, sizeof marks));
    once();
    CK(cudaDeviceSynchronize());
    LabMark* none = nullptr;
    CK(cudaMemcpyToSymbol(gLabMarks, &none, sizeof none));
    std::vector<LabMark> hm(blocks * cap);
    CK(cudaMemcpy(hm.data(), marks, hm.size() * sizeof(LabMark), cudaMemcpyDeviceToHost));
    CK(cudaFree(marks));
    std::vector<int> hc(blocks, 0);  // each block's marks: up to the first unused entry
    for (long long x = 0; x < blocks; x++)
        while (hc[x] < cap && (hm[x * cap + hc[x]].clk >> 56) != 255) hc[x]++;
    unsigned long long t0 = ~0ull;
    for (long long x = 0; x < blocks; x++)
        if (hc[x] > 0) t0 = std::min(t0, hm[x * cap].ns);
    std::vector<double> entry, first, exitAt, lastToExit, life, early[4], late[3], steady;
    unsigned long long tick = ~0ull;  // the smallest nonzero globaltimer step seen
    for (long long x = 0; x < blocks; x++) {
        const LabMark* m = &hm[x * cap];
        const int n = hc[x];
        std::vector<double> chunks;  // globaltimer of each chunk mark, us after t0
        double e = NAN, xt = NAN;
        for (int i = 0; i < n; i++) {
            const int kind = (int) (m[i].clk >> 56);
            const double us = (m[i].ns - t0) * 1e-3;
            if (i > 0 && m[i].ns > m[i - 1].ns) tick = std::min(tick, m[i].ns - m[i - 1].ns);
            if (kind == LA2_MARK_ENTRY && std::isnan(e)) e = us;
            else if (kind == LA2_MARK_CHUNK) chunks.push_back(us);
            else if (kind == LA2_MARK_EXIT) xt = us;
        }
        if (std::isnan(e) || chunks.empty()) continue;
        entry.push_back(e);
        first.push_back(chunks[0] - e);
        const size_t nc = chunks.size();
        for (size_t i = 1; i < nc; i++) {
            const double d = chunks[i] - chunks[i - 1];
            if (i <= 4) early[i - 1].push_back(d);
            if (i + 3 >= nc) late[i + 3 - nc].push_back(d);
            if (i > 4 && i + 3 < nc) steady.push_back(d);
        }
        if (!std::isnan(xt)) {
            exitAt.push_back(xt);
            lastToExit.push_back(xt - chunks.back());
            life.push_back(xt - e);
        }
    }
    std::printf(" %-22s %8.3f ms by events, %.3f us a chunk of the block's walk; globaltimer step %.3f us\n", name, ms,
                ms * 1e3 / ((tokens + 63) / 64), tick == ~0ull ? NAN : tick * 1e-3);
    std::printf("   entry after the first block's   p50 %7.2f  p90 %7.2f  max %7.2f us\n", pct(entry, .5), pct(entry, .9), pct(entry, 1));
    std::printf("   entry to first chunk ready      p50 %7.2f  p90 %7.2f  max %7.2f us\n", pct(first, .5), pct(first, .9), pct(first, 1));
    for (int i = 0; i < 4; i++) std::printf("   chunk %d after chunk %d            p50 %7.2f  p90 %7.2f us\n", i + 1, i, pct(early[i], .5), pct(early[i], .9));
    std::printf("   steady chunk interval           p50 %7.2f  p90 %7.2f  mean %7.2f us\n", pct(steady, .5), pct(steady, .9),
                steady.empty() ? NAN : std::accumulate(steady.begin(), steady.end(), 0.0) / steady.size());
    for (int i = 0; i < 3; i++) std::printf("   last chunks (%d from the end)     p50 %7.2f  p90 %7.2f us\n", 3 - i, pct(late[i], .5), pct(late[i], .9));
    std::printf("   last chunk to exit              p50 %7.2f  p90 %7.2f  max %7.2f us\n", pct(lastToExit, .5), pct(lastToExit, .9), pct(lastToExit, 1));
    std::printf("   block life                      p10 %7.2f  p50 %7.2f  max %7.2f us\n", pct(life, .1), pct(life, .5), pct(life, 1));
    std::printf("   exit after the first entry      p50 %7.2f  p90 %7.2f  max %7.2f us\n", pct(exitAt, .5), pct(exitAt, .9), pct(exitAt, 1));
    // every kind's first occurrences after the block's entry (medians over the blocks), for kernels
    // with marks beyond a chunk's arrival (the roles pass's state warpgroup, each chunk's end)
    constexpr int K = LA2_MARK_CONVERT_DONE + 1, OCC = 5;  // the kinds common.cuh defines
    std::vector<double> at[K][OCC];
    bool more = false;
    for (long long x = 0; x < blocks; x++) {
        const LabMark* m = &hm[x * cap];
        int seen[K] = {};
        double e = NAN;
        for (int i = 0; i < hc[x]; i++)
            if ((int) (m[i].clk >> 56) == LA2_MARK_ENTRY) e = (m[i].ns - t0) * 1e-3;
        if (std::isnan(e)) continue;
        for (int i = 0; i < hc[x]; i++) {
            const int kind = (int) (m[i].clk >> 56);
            if (kind >= K || kind == LA2_MARK_ENTRY || kind == LA2_MARK_EXIT) continue;
            more |= kind != LA2_MARK_CHUNK;
            if (seen[kind] < OCC) at[kind][seen[kind]++].push_back((m[i].ns - t0) * 1e-3 - e);
        }
    }
    if (!more) return;
    std::printf("   after entry, p50 us       chunk 0   chunk 1   chunk 2   chunk 3   chunk 4  (state copies: initial, then 1..)\n");
    for (int kind = 1; kind < K; kind++) {
        if (at[kind][0].empty()) continue;
        const char* name = markName(kind);
        std::printf("     %-22s", name);
        for (int j = 0; j < OCC; j++) std::printf(" %8.2f", pct(at[kind][j], .5));
        std::printf("\n");
    }
    // the steady walk (chunks 5 .. n - 4) by each SM's clock: each kind's j-th mark against the j-th
    // chunk ready (a kind's j-th mark belongs to chunk j), and each kind's interval; cycles to us by
    // the block's clock over its chunk marks
    std::vector<double> off[K], per[K];
    for (long long x = 0; x < blocks; x++) {
        const LabMark* m = &hm[x * cap];
        std::vector<unsigned long long> clk[K];
        unsigned long long ns0 = 0, ns1 = 0;
        for (int i = 0; i < hc[x]; i++) {
            const int kind = (int) (m[i].clk >> 56);
            if (kind >= K) continue;
            clk[kind].push_back(m[i].clk & ((1ull << 56) - 1));
            if (kind == LA2_MARK_CHUNK) (clk[kind].size() == 1 ? ns0 : ns1) = m[i].ns;
        }
        const std::vector<unsigned long long>& ch = clk[LA2_MARK_CHUNK];
        const size_t nc = ch.size();
        if (nc < 12 || ns1 <= ns0) continue;
        const double usPerClk = (ns1 - ns0) * 1e-3 / (double) (ch[nc - 1] - ch[0]);
        for (int kind = 1; kind < K; kind++) {
            if (clk[kind].size() < nc - 3) continue;
            for (size_t j = 5; j + 4 < nc; j++) {
                off[kind].push_back(((double) clk[kind][j] - (double) ch[j]) * usPerClk);
                per[kind].push_back((double) (clk[kind][j] - clk[kind][j - 1]) * usPerClk);
            }
        }
    }
    std::printf("   steady walk, p50 us        against chunk ready   interval\n");
    for (int kind = 1; kind < K; kind++) {
        if (off[kind].empty()) continue;
        std::printf("     %-22s %8.2f              %8.2f\n", markName(kind), pct(off[kind], .5), pct(per[kind], .5));
    }
}

static void traceSection() {
    for (const void* f : {(const void*) la2_sweep_hopper_tma_tf32_d128, (const void*) la2_sweep_hopper_tma_tf32_d128_bwd,
                          (const void*) la2_sweep_hopper_tma_tf32_d128_bwd_rev})
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, hopperTf32::SMEM));
    const std::vector<Pass> all = passes();
    const Kern tma{"forward", (const void*) la2_sweep_hopper_tma_bf16_d128, 256, hopper::SMEM, true};
    const Kern dq{"dq", (const void*) la2_sweep_hopper_tma_bf16_d128_bwd, 256, hopper::SMEM, true};
    const bool tf32Only = std::getenv("LA2_TRACE_TF32_ONLY") != nullptr;  // the TF32 forward alone
    for (long long n : {2048LL, 8192LL, 65536LL}) {
        const Shape s{4, 32, n};
        if (tf32Only) {
            std::printf("\n== trace B=4 H=32 N=%lld fp32\n", n);
            Tf32Bufs t = tf32Allocate(s, false, false);
            CK(cudaFree(t.s0));
            t.s0 = nullptr;
            traceOne("tf32 forward", t.BH * t.split.nseg, t.split.segLen, [&]() { tf32Run(t, all[0], 1); });
            tf32Release(t);
            continue;
        }
        Bufs b = allocate<__nv_bfloat16>(s, false);
        CK(cudaFree(b.s0));
        b.s0 = nullptr;  // no initial state, as CudaBench's calls (the dq pass would read one transposed)
        std::printf("\n== trace B=4 H=32 N=%lld bf16, %lld segment(s)\n", n, b.nseg);
        traceOne("forward", b.BH * b.nseg, b.segLen, [&]() { run(tma, b, all[0], 1); });
        traceOne("dq (roles)", b.BH * b.nseg, b.segLen, [&]() { run(dq, b, all[2], 1); });
        DkDvRun r = dkdvRun<__nv_bfloat16>(b, (const void*) la2_sweep_hopper_tma_bf16_d128_bwd_rev);
        traceOne("dk + dv fused", b.BH * b.nseg, b.segLen, [&]() { runFused(r, 1); });
        const double row = timeMs([&]() { run(tma, b, all[0], 1); run(dq, b, all[2], 1); runFused(r, 1); });
        std::printf(" %-22s %8.3f ms by events, %.3f ns a token\n", "fwd, dq, dkdv in a row", row, row * 1e6 / (s.B * s.H * n));
        // dq and dk + dv read nothing the other writes: on two streams (each waits for the forward
        // on the legacy stream, which waits for both), the second's blocks start as the first's leave
        // (the two write the same output buffer here, harmless to the timing)
        cudaStream_t sa, sb;
        CK(cudaStreamCreate(&sa));
        CK(cudaStreamCreate(&sb));
        const double two = timeMs([&]() {
            run(tma, b, all[0], 1);
            labStream = sa;
            run(dq, b, all[2], 1);
            labStream = sb;
            runFused(r, 1);
            labStream = 0;
        });
        CK(cudaStreamDestroy(sa));
        CK(cudaStreamDestroy(sb));
        std::printf(" %-22s %8.3f ms by events, %.3f ns a token\n", "fwd, then dq | dkdv", two, two * 1e6 / (s.B * s.H * n));
        for (int x = 0; x < 2; x++) CK(cudaFree(r.dk[x]));
        release(b);
        Tf32Bufs t = tf32Allocate(s, false, false);
        CK(cudaFree(t.s0));
        t.s0 = nullptr;
        traceOne("tf32 forward", t.BH * t.split.nseg, t.split.segLen, [&]() { tf32Run(t, all[0], 1); });
        tf32Release(t);
    }
}
#else
static void traceSection() { std::printf("\n== trace: this build has no timeline marks (build with -DLA2_LAB_TRACE)\n"); }
#endif
