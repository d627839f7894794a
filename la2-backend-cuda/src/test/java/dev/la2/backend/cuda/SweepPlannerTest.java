package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import dev.la2.api.Layout;
import dev.la2.api.Precision;
import dev.la2.spi.AttentionShape;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the planner's kernel choices and segment arithmetic on written-out device limits. */
class SweepPlannerTest {
    /** An H100 SXM: compute capability 9.0, 132 multiprocessors, 227 KiB per block (less the kernels' static 512 bytes). */
    static final DeviceLimits H100 = new DeviceLimits("cuda:0", 90, 132, 232448 - 512, 233472);
    /** An A100: compute capability 8.0, 108 multiprocessors, 163 KiB per block. */
    static final DeviceLimits A100 = new DeviceLimits("cuda:0", 80, 108, 166912 - 512, 167936);

    private static SweepPlan plan(DeviceLimits device, int b, int h, int n, int d, int e, DType dtype, Precision precision) {
        AttentionShape s = new AttentionShape(b, h, n, d, e, Layout.BHND, dtype);
        return new SweepPlanner(device, SweepPlanner.Kernels.ALL).plan(s, null, d, e, precision, false);
    }

    @Test
    void kernelsFollowDimensionsStorageAndDevice() {
        assertThat(plan(H100, 1, 8, 4096, 128, 128, DType.BF16, Precision.STRICT).kernel()).isEqualTo(Kernel.SWEEP_HOPPER_BF16_D128);
        assertThat(plan(A100, 1, 8, 4096, 128, 128, DType.BF16, Precision.STRICT).kernel()).as("wide sweep too big for an A100")
                .isEqualTo(Kernel.SWEEP_TC1_BF16_D128);
        assertThat(plan(A100, 1, 8, 4096, 64, 128, DType.FP16, Precision.STRICT).kernel()).isEqualTo(Kernel.SWEEP_WIDE_F16_D64);
        SweepPlan tiles = plan(H100, 1, 8, 4096, 64, 192, DType.BF16, Precision.STRICT);
        assertThat(tiles.kernel()).isEqualTo(Kernel.SWEEP_TC1_BF16_D64);
        assertThat(tiles.tiles()).isEqualTo(3);
        assertThat(plan(H100, 1, 8, 4096, 64, 96, DType.BF16, Precision.STRICT).kernel()).as("E not a multiple of 64")
                .isEqualTo(Kernel.SWEEP_BF16);
        assertThat(plan(H100, 1, 8, 4096, 96, 128, DType.BF16, Precision.STRICT).kernel()).as("D = 96").isEqualTo(Kernel.SWEEP_BF16);
        assertThat(plan(H100, 1, 8, 4096, 128, 128, DType.FP32, Precision.STRICT).kernel()).isEqualTo(Kernel.SWEEP_F32);
        assertThat(plan(H100, 1, 8, 4096, 128, 128, DType.FP32, Precision.TF32).kernel()).isEqualTo(Kernel.SWEEP_WIDE_TF32_D128);
        assertThat(plan(H100, 1, 8, 4096, 128, 256, DType.FP32, Precision.TF32X3).kernel()).isEqualTo(Kernel.SWEEP_TC_F32X3_D128);
    }

    @Test
    void fusedDkDvPassFollowsTheHopperSweepAndItsSwitch() {
        AttentionShape s = new AttentionShape(2, 8, 5000, 128, 128, Layout.BNHD, DType.FP16);
        SweepPlanner all = new SweepPlanner(H100, SweepPlanner.Kernels.ALL);
        SweepPlan fused = all.hopperDkDv(s, null);
        SweepPlan dv = all.plan(s, null, 128, 128, Precision.STRICT, true);
        assertThat(fused.kernel()).isEqualTo(Kernel.SWEEP_HOPPER_F16_D128_DKDV);
        assertThat(fused.kernel().tma()).isEqualTo(Kernel.SWEEP_HOPPER_TMA_F16_D128_DKDV);
        assertThat(fused.smem()).isEqualTo(215040).isLessThanOrEqualTo(H100.smemPerBlock());
        assertThat(fused.withKernel(dv.kernel())).as("the dv pass's launch but for kernel and shared memory")
                .isEqualTo(new SweepPlan(dv.kernel(), dv.threads(), dv.valueTile(), dv.chunk(), fused.smem(), dv.tiles(),
                        dv.segmentLength(), dv.segments()));
        assertThat(dv.segments()).as("segments fill the H100").isGreaterThan(1);
        assertThat(all.hopperDkDv(new AttentionShape(2, 8, 5000, 128, 128, Layout.BNHD, DType.BF16), null).kernel())
                .isEqualTo(Kernel.SWEEP_HOPPER_BF16_D128_DKDV);
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, true, false, true)).hopperDkDv(s, null)).as("switched off").isNull();
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, false, true, true)).hopperDkDv(s, null)).as("no Hopper sweep").isNull();
        assertThat(new SweepPlanner(A100, SweepPlanner.Kernels.ALL).hopperDkDv(s, null)).as("A100").isNull();
        for (AttentionShape other : new AttentionShape[] {new AttentionShape(2, 8, 5000, 128, 128, Layout.BNHD, DType.FP32),
            new AttentionShape(2, 8, 5000, 64, 128, Layout.BNHD, DType.BF16), new AttentionShape(2, 8, 5000, 128, 64, Layout.BNHD, DType.BF16)}) {
            assertThat(all.hopperDkDv(other, null)).as("%s", other).isNull();
        }
        // a packed call: the packed dv pass's segments, the same kernel (its packed entry point runs)
        Packing packing = new Packing(new int[] {5000, 1, 0, 700, 64}, 0);
        AttentionShape packed = new AttentionShape(5, 8, 5000, 128, 128, Layout.BNHD, DType.BF16);
        SweepPlan packedDv = all.plan(packed, packing, 128, 128, Precision.STRICT, true);
        SweepPlan packedFused = all.hopperDkDv(packed, packing);
        assertThat(packedFused.kernel()).isEqualTo(Kernel.SWEEP_HOPPER_BF16_D128_DKDV);
        assertThat(packedFused.kernel().variant()).isEqualTo("_packed");
        assertThat(packedFused.withKernel(packedDv.kernel())).as("the packed dv pass's launch but for kernel and shared memory")
                .isEqualTo(new SweepPlan(packedDv.kernel(), packedDv.threads(), packedDv.valueTile(), packedDv.chunk(), packedFused.smem(),
                        packedDv.tiles(), packedDv.segmentLength(), packedDv.segments()));
    }

    @Test
    void tf32PassesOfDimension128TakeTheHopperTf32SweepOnComputeCapability90() {
        AttentionShape s = new AttentionShape(1, 16, 131072, 128, 128, Layout.BNHD, DType.FP32);
        SweepPlanner all = new SweepPlanner(H100, SweepPlanner.Kernels.ALL);
        for (boolean backward : new boolean[] {false, true}) {
            SweepPlan wide = all.plan(s, null, 128, 128, Precision.TF32, backward);
            SweepPlan hopper = all.hopperTf32(wide);
            assertThat(wide.kernel()).isEqualTo(backward ? Kernel.SWEEP_WIDE_TF32_D128_BWD : Kernel.SWEEP_WIDE_TF32_D128);
            assertThat(hopper).as("the wide sweep's segments, the Hopper sweep's launch")
                    .isEqualTo(new SweepPlan(backward ? Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD : Kernel.SWEEP_HOPPER_TMA_TF32_D128, 384,
                            wide.valueTile(), wide.chunk(), 231680, wide.tiles(), wide.segmentLength(), wide.segments()));
            assertThat(hopper.smem()).isLessThanOrEqualTo(H100.smemPerBlock());
            assertThat(wide.segments()).as("16 sequences fill the H100 in segments").isGreaterThan(1);
        }
        assertThat(Kernel.hopperTf32(true).reversed()).isEqualTo(Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD_REV);
        assertThat(Kernel.hopperTf32(false).variant()).as("no packed entry point").isNull();
        assertThat(new SweepPlanner(A100, SweepPlanner.Kernels.ALL).hopperTf32(new SweepPlanner(A100, SweepPlanner.Kernels.ALL)
                .plan(s, null, 128, 128, Precision.TF32, false))).as("A100").isNull();
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, false, true, true)).hopperTf32(all.plan(s, null, 128, 128, Precision.TF32,
                false))).as("cuda.hopper off").isNull();
        assertThat(all.hopperTf32(all.plan(s, null, 128, 128, Precision.TF32X3, false))).as("TF32X3").isNull();
        assertThat(all.hopperTf32(all.plan(new AttentionShape(1, 16, 4096, 64, 128, Layout.BNHD, DType.FP32), null, 64, 128,
                Precision.TF32, false))).as("Dk = 64").isNull();
        assertThat(all.hopperTf32(all.plan(new AttentionShape(1, 16, 4096, 128, 128, Layout.BNHD, DType.BF16), null, 128, 128,
                Precision.STRICT, false))).as("bf16").isNull();
    }

    @Test
    void tf32BackwardChainsWhereTheHopperTf32SweepRunsItsPasses() {
        SweepPlanner all = new SweepPlanner(H100, SweepPlanner.Kernels.ALL);
        for (AttentionShape s : List.of(new AttentionShape(1, 16, 131072, 128, 128, Layout.BNHD, DType.FP32),
                new AttentionShape(4, 32, 2048, 128, 128, Layout.BHND, DType.FP32))) {
            SweepPlan pass = all.hopperTf32(all.plan(s, null, 128, 128, Precision.TF32, true));
            assertThat(all.hopperTf32Chain(s, Precision.TF32)).as("%s: the backward pass's launch, the chain's kernel", s)
                    .isEqualTo(pass.withKernel(Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD_CHAIN));
        }
        AttentionShape s = new AttentionShape(4, 32, 2048, 128, 128, Layout.BHND, DType.FP32);
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, true, true, false)).hopperTf32Chain(s, Precision.TF32))
                .as("cuda.tf32Chain off").isNull();
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, false, true, true)).hopperTf32Chain(s, Precision.TF32))
                .as("cuda.hopper off").isNull();
        assertThat(new SweepPlanner(A100, SweepPlanner.Kernels.ALL).hopperTf32Chain(s, Precision.TF32)).as("A100").isNull();
        assertThat(all.hopperTf32Chain(s, Precision.TF32X3)).as("TF32X3").isNull();
        assertThat(all.hopperTf32Chain(new AttentionShape(4, 32, 2048, 128, 128, Layout.BHND, DType.BF16), Precision.STRICT)).as("bf16")
                .isNull();
        assertThat(all.hopperTf32Chain(new AttentionShape(4, 32, 2048, 128, 64, Layout.BHND, DType.FP32), Precision.TF32)).as("E = 64")
                .isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_TF32_D128_BWD_CHAIN.variant()).as("no packed entry point").isNull();
    }

    @Test
    void decayGradientsHopperSweepTakesTheHopperPlansSegments() {
        AttentionShape s = new AttentionShape(4, 32, 32768, 128, 128, Layout.BNHD, DType.BF16);
        SweepPlanner all = new SweepPlanner(H100, SweepPlanner.Kernels.ALL);
        SweepPlan decay = all.hopperDecay(s);
        assertThat(all.plan(s, null, 128, 128, Precision.STRICT, true).segments()).isEqualTo(1);
        assertThat(decay).isEqualTo(new SweepPlan(Kernel.DECAY_SWEEP_HOPPER_BF16_D128, 384, 128, 64, 223552, 1, 32768, 1));
        assertThat(decay.smem()).isLessThanOrEqualTo(H100.smemPerBlock());
        assertThat(all.hopperDecay(new AttentionShape(4, 33, 1000, 128, 128, Layout.BHND, DType.FP16)).kernel())
                .isEqualTo(Kernel.DECAY_SWEEP_HOPPER_F16_D128);
        AttentionShape few = new AttentionShape(1, 16, 131072, 128, 128, Layout.BNHD, DType.BF16);
        SweepPlan forward = all.plan(few, null, 128, 128, Precision.STRICT, true);
        assertThat(forward.segments()).isGreaterThan(1);
        assertThat(all.hopperDecay(few)).as("sequences split into segments")
                .isEqualTo(new SweepPlan(Kernel.DECAY_SWEEP_HOPPER_BF16_D128, 384, 128, 64, 223552, 1, forward.segmentLength(), forward.segments()));
        assertThat(new SweepPlanner(H100, new SweepPlanner.Kernels(true, false, true, true)).hopperDecay(s)).as("no Hopper sweep").isNull();
        assertThat(new SweepPlanner(A100, SweepPlanner.Kernels.ALL).hopperDecay(s)).as("A100").isNull();
        for (AttentionShape other : new AttentionShape[] {new AttentionShape(4, 32, 5000, 128, 128, Layout.BNHD, DType.FP32),
            new AttentionShape(4, 32, 5000, 64, 128, Layout.BNHD, DType.BF16), new AttentionShape(4, 32, 5000, 128, 64, Layout.BNHD, DType.BF16)}) {
            assertThat(all.hopperDecay(other)).as("%s", other).isNull();
        }
    }

    @Test
    void segmentsCoverEverySequenceWithinTheGridLimit() {
        int[] lengths = {1, 2, 63, 64, 65, 127, 128, 129, 4095, 4097, 1 << 20, (1 << 20) + 1, Integer.MAX_VALUE - 64,
            Integer.MAX_VALUE - 1, Integer.MAX_VALUE};
        for (int n : lengths) {
            for (int d : new int[] {1, 64, 128}) {
                SweepPlan p = plan(H100, 1, 1, n, d, d, d == 1 ? DType.FP32 : DType.BF16, Precision.STRICT);
                assertCovers(p, n, "N = " + n + ", D = E = " + d);
            }
        }
    }

    @Test
    void packedSegmentsCoverTheLongestSequenceWithinTheGridLimit() {
        int[][] calls = {{1}, {0, 0}, {65, 1, 0, 64}, {Integer.MAX_VALUE}, {Integer.MAX_VALUE - 1, 3}};
        for (int[] lengths : calls) {
            Packing packing = new Packing(lengths, 0);
            int max = packing.maxLength();
            AttentionShape s = new AttentionShape(lengths.length, 4, Math.max(1, max), 1, 1, Layout.BNHD, DType.FP32);
            SweepPlan p = new SweepPlanner(H100, SweepPlanner.Kernels.ALL).plan(s, packing, 1, 1, Precision.STRICT, false);
            assertCovers(p, Math.max(1, max), "lengths " + Arrays.toString(lengths));
        }
    }

    @Test
    void chunksOfAPackedCallRoundEachSequenceUp() {
        assertThat(new Packing(new int[] {1, 64, 65, 0}, 0).chunks(64)).isEqualTo(1 + 1 + 2);
        assertThat(new Packing(new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE}, 0).chunks(64)).isEqualTo(2L << 25);
    }

    @Test
    void packedTableListsRangesThenTheLongestFirst() {
        assertThat(Packing.table(new long[] {0, 5, 5, 1L << 33}, new int[] {5, 0, 7, 2}))
                .containsExactly(0, 5, 5, 5, 5, 12, 1L << 33, (1L << 33) + 2, 2, 0, 3, 1);
    }

    /** Segments of whole chunks that reach the sequence's end, the last one holding a token, at most 65535 of them. */
    private static void assertCovers(SweepPlan p, long n, String what) {
        assertThat(p.segmentLength()).as(what + ": segment length").isPositive();
        assertThat(p.segmentLength() % p.chunk()).as(what + ": whole chunks").isZero();
        assertThat(p.segments()).as(what + ": segments").isBetween(1L, 65535L);
        assertThat(p.segments() * p.segmentLength()).as(what + ": covered").isGreaterThanOrEqualTo(n);
        assertThat((p.segments() - 1) * p.segmentLength()).as(what + ": no empty segment").isLessThan(n);
    }
}
