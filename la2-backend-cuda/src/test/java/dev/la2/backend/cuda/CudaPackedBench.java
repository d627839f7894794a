package dev.la2.backend.cuda;

import dev.la2.api.AttentionInputs;
import dev.la2.api.AttentionOptions;
import dev.la2.api.BackendOptions;
import dev.la2.api.DType;
import dev.la2.api.DecaySlopes;
import dev.la2.api.Diagnostics;
import dev.la2.api.Gradients;
import dev.la2.api.Layout;
import dev.la2.api.LightningAttention;
import dev.la2.api.PackedInputs;
import dev.la2.api.PoolSlots;
import dev.la2.api.SequenceOffsets;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Timing of the fused packed and slot calls (SPEC.md section 8) on device-resident inputs, CUDA
 * event medians ({@link Diagnostics#timeMillis(Runnable, int)}): S packed sequences of lengths
 * drawn from 1..max (fixed seed) against an equal-length dense batch of as many tokens, forward
 * and forward+backward, as time per token and its ratio; a decode step for S sequences and for
 * one, on dense states and by slot (slots in order and permuted). bf16, H=32, D=E=128 unless told
 * otherwise.
 *
 * <p>Usage: {@code CudaPackedBench [--s 64] [--max 16384] [--seed 19] [--h 32] [--d 128] [--e 128]
 * [--decode 256] [--reps 20] [--props cuda.packedKernels=false]}
 */
public final class CudaPackedBench {
    private CudaPackedBench() {
    }

    public static void main(String[] args) {
        Map<String, String> opt = CudaBench.arguments(args);
        int s = Integer.parseInt(opt.getOrDefault("s", "64"));
        int max = Integer.parseInt(opt.getOrDefault("max", "16384"));
        int h = Integer.parseInt(opt.getOrDefault("h", "32"));
        int d = Integer.parseInt(opt.getOrDefault("d", "128"));
        int e = Integer.parseInt(opt.getOrDefault("e", "128"));
        int decodeS = Integer.parseInt(opt.getOrDefault("decode", "256"));
        int reps = Integer.parseInt(opt.getOrDefault("reps", "20"));
        SplittableRandom rnd = new SplittableRandom(Long.parseLong(opt.getOrDefault("seed", "19")));
        int[] lengths = new int[s];
        for (int i = 0; i < s; i++) {
            lengths[i] = 1 + rnd.nextInt(max);
        }
        SequenceOffsets offsets = SequenceOffsets.ofLengths(lengths);
        int t = offsets.tokens();
        BackendOptions backend = CudaBench.options(opt.getOrDefault("props", ""));
        List<String> table = new ArrayList<>();
        table.add(String.format(Locale.ROOT, "%-22s %10s %9s %11s %8s", "case", "tokens", "ms(med)", "ns/token", "xDense"));
        try (LightningAttention la = LightningAttention.open("cuda", backend)) {
            System.out.println("CudaPackedBench on " + la.backendName() + ": S=" + s + " lengths 1.." + max + " (T=" + t + "), H=" + h
                    + " D=" + d + " E=" + e + ", bf16" + (opt.containsKey("props") ? ", " + opt.get("props") : ""));
            for (boolean bwd : new boolean[] {false, true}) {
                int n = t / s;
                double dense = perToken(denseMillis(la, s, n, h, d, e, bwd, reps), (long) s * n);
                double packed = perToken(packedMillis(la, offsets, h, d, e, bwd, reps), t);
                String mode = bwd ? "fwd+bwd" : "fwd";
                table.add(row("dense " + mode, (long) s * n, dense, 1));
                table.add(row("packed " + mode, t, packed, packed / dense));
            }
            for (int seqs : new int[] {decodeS, 1}) {
                for (Decode how : Decode.values()) {
                    double ms = decodeMillis(la, how, seqs, h, d, e, reps);
                    table.add(String.format(Locale.ROOT, "%-22s %10d %9.4f %11s %8s", how.label + " S=" + seqs, seqs, ms, "-", "-"));
                }
            }
        }
        table.forEach(System.out::println);
    }

    private static double perToken(double ms, long tokens) {
        return ms * 1e6 / tokens;
    }

    private static String row(String name, long tokens, double nsPerToken, double ratio) {
        return String.format(Locale.ROOT, "%-22s %10d %9.3f %11.3f %8.3f", name, tokens, nsPerToken * tokens / 1e6, nsPerToken, ratio);
    }

    private static double median(LightningAttention la, Runnable work, int reps) {
        Diagnostics.of(la).timeMillis(work);
        double[] ms = Diagnostics.of(la).timeMillis(work, reps);
        Arrays.sort(ms);
        return ms.length % 2 == 1 ? ms[ms.length / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
    }

    private static void fill(Tensor x, long seed, double std) {
        ((CudaTensor) x).owner().randomFill(x, seed, std);
    }

    /** Device-filled bf16 operands q, k [keys], v, dO, out [values] and alibi decay rates. */
    private record Operands(Tensor q, Tensor k, Tensor v, Tensor dO, Tensor out, Tensor decay) implements AutoCloseable {
        static Operands of(LightningAttention la, Shape keys, Shape values, int h, int d) {
            Operands o = new Operands(la.allocate(DType.BF16, keys), la.allocate(DType.BF16, keys), la.allocate(DType.BF16, values),
                    la.allocate(DType.BF16, values), la.allocate(DType.BF16, values),
                    la.tensor(DecaySlopes.alibi(h), DType.FP32, Shape.of(h)));
            fill(o.q, 1, 1 / Math.sqrt(d));
            fill(o.k, 2, 1 / Math.sqrt(d));
            fill(o.v, 3, 1);
            fill(o.dO, 4, 1);
            return o;
        }

        @Override
        public void close() {
            for (Tensor t : new Tensor[] {q, k, v, dO, out, decay}) {
                t.close();
            }
        }
    }

    /** The forward, then with {@code bwd} the backward into gradients made by the first run. */
    private interface Pass {
        Gradients run(Gradients into);
    }

    private static double passMillis(LightningAttention la, Pass pass, int reps) {
        Gradients[] g = new Gradients[1];
        try {
            return median(la, () -> g[0] = pass.run(g[0]), reps);
        } finally {
            if (g[0] != null) {
                g[0].close();
            }
        }
    }

    private static double denseMillis(LightningAttention la, int b, int n, int h, int d, int e, boolean bwd, int reps) {
        AttentionOptions options = AttentionOptions.defaults().withLayout(Layout.BNHD).withFinalState(false);
        try (Operands o = Operands.of(la, Shape.of(b, n, h, d), Shape.of(b, n, h, e), h, d)) {
            AttentionInputs in = AttentionInputs.of(o.q(), o.k(), o.v(), o.decay());
            return passMillis(la, into -> {
                la.forward(in, options, o.out(), null);
                if (!bwd) {
                    return into;
                }
                if (into == null) {
                    return la.backward(in, o.dO(), null, options);
                }
                la.backward(in, o.dO(), null, options, into);
                return into;
            }, reps);
        }
    }

    private static double packedMillis(LightningAttention la, SequenceOffsets offsets, int h, int d, int e, boolean bwd, int reps) {
        AttentionOptions options = AttentionOptions.defaults().withFinalState(false);
        int t = offsets.tokens();
        try (Operands o = Operands.of(la, Shape.of(t, h, d), Shape.of(t, h, e), h, d)) {
            PackedInputs in = PackedInputs.of(o.q(), o.k(), o.v(), o.decay(), offsets);
            return passMillis(la, into -> {
                la.forwardPacked(in, options, o.out(), null);
                if (!bwd) {
                    return into;
                }
                if (into == null) {
                    return la.backwardPacked(in, o.dO(), null, options, null);
                }
                la.backwardPacked(in, o.dO(), null, options, null, into);
                return into;
            }, reps);
        }
    }

    /** How a decode step finds its states: dense [S, H, D, E], or pool slots in order or permuted. */
    private enum Decode {
        DENSE("decode dense"), IN_ORDER("decode slots in order"), PERMUTED("decode slots permuted");

        final String label;

        Decode(String label) {
            this.label = label;
        }
    }

    /** One decode step for {@code s} sequences, on dense states or a pool of as many slots (permuted: i -> 37 i + 11 mod s). */
    private static double decodeMillis(LightningAttention la, Decode how, int s, int h, int d, int e, int reps) {
        int[] slots = new int[s];
        for (int i = 0; i < s; i++) {
            slots[i] = how == Decode.PERMUTED ? (int) ((i * 37L + 11) % s) : i;
        }
        try (Tensor pool = la.allocate(DType.FP32, Shape.of(s, h, d, e)); Tensor q = la.allocate(DType.BF16, Shape.of(s, h, d));
             Tensor k = la.allocate(DType.BF16, Shape.of(s, h, d)); Tensor v = la.allocate(DType.BF16, Shape.of(s, h, e));
             Tensor out = la.allocate(DType.BF16, Shape.of(s, h, e));
             Tensor decay = la.tensor(DecaySlopes.alibi(h), DType.FP32, Shape.of(h))) {
            fill(pool, 5, 0.1);
            fill(q, 1, 1 / Math.sqrt(d));
            fill(k, 2, 1 / Math.sqrt(d));
            fill(v, 3, 1);
            PoolSlots states = PoolSlots.of(pool, slots);
            return median(la, how == Decode.DENSE ? () -> la.decode(q, k, v, decay, pool, 1.0, out)
                    : () -> la.decodeSlots(q, k, v, decay, states, 1.0, out), reps);
        }
    }
}
