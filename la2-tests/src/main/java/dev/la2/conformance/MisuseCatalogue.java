package dev.la2.conformance;

import static dev.la2.conformance.Fixture.zeros;
import static dev.la2.conformance.KeptStateChecks.backwardWith;
import static dev.la2.conformance.KeptStateChecks.keep;

import dev.la2.api.AttentionInputs;
import dev.la2.api.DType;
import dev.la2.api.Gradients;
import dev.la2.api.LightningAttention;
import dev.la2.api.SavedForward;
import dev.la2.api.Shape;
import dev.la2.api.Tensor;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The bad calls the kit makes, on a valid problem of B=2, H=3, N=7, D=4, E=5: arguments of the
 * wrong rank, shape, layout, storage type or instance, bad decay rates and scales, closed or
 * aliased tensors, non-finite values under the finite check, and kept states handed to a
 * backward they do not belong to.
 */
final class MisuseCatalogue {
    private MisuseCatalogue() {
    }

    /**
     * The misuses for one configuration.
     *
     * @param offered what the instance under test stores, for a storage type it does not take there
     * @param another opens a second instance of the backend under test, as the kit opened the first
     */
    static List<Misuse> of(Configuration cfg, Set<DType> offered, Supplier<LightningAttention> another) {
        DType dt = cfg.dtype();
        DType st = dt.stateType();
        List<Misuse> list = new ArrayList<>();
        list.add(new Misuse("q of rank 3", "q", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.track(zeros(la, dt, Shape.of(2, 3, 7))), f.k, f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("k with another key width", "k", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("v with another length", "v", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.track(zeros(la, dt, Shape.of(2, 3, 8, 5))), f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("v in the other layout", "v", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.track(zeros(la, dt, Shape.of(2, 7, 3, 5))), f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("decay of the wrong length", "decay", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.v, f.track(la.tensor(new double[] {0.1, 0.2, 0.3, 0.4}, st, Shape.of(4))), f.s0),
                f.options(), out, fin)));
        for (double bad : new double[] {-0.25, Double.NaN, Double.POSITIVE_INFINITY}) {
            list.add(new Misuse("decay rate " + bad, "decay", (la, f, out, fin) -> la.forward(
                    new AttentionInputs(f.q, f.k, f.v, f.track(la.tensor(new double[] {0.1, bad, 0.3}, st, Shape.of(3))), f.s0),
                    f.options(), out, fin)));
        }
        list.add(new Misuse("initial state with D and E swapped", "initialState", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.k, f.v, f.decay, f.track(zeros(la, st, Shape.of(2, 3, 5, 4)))), f.options(), out, fin)));
        Optional<DType> other = otherDType(offered, dt);
        other.ifPresent(o -> list.add(new Misuse("k stored as " + o, "k", (la, f, out, fin) -> la.forward(
                new AttentionInputs(f.q, f.track(zeros(la, o, Shape.of(2, 3, 7, 4))), f.v, f.decay, f.s0), f.options(), out, fin))));
        list.add(new Misuse("null q", "q", (la, f, out, fin) -> la.forward(
                new AttentionInputs(null, f.k, f.v, f.decay, f.s0), f.options(), out, fin)));
        list.add(new Misuse("null inputs", "inputs", (la, f, out, fin) -> la.forward(null, f.options(), out, fin)));
        list.add(new Misuse("null options", "options", (la, f, out, fin) -> la.forward(f.inputs(), null, out, fin)));
        list.add(new Misuse("closed v", "v", (la, f, out, fin) -> {
            Tensor closed = zeros(la, dt, Shape.of(2, 3, 7, 5));
            closed.close();
            la.forward(new AttentionInputs(f.q, f.k, closed, f.decay, f.s0), f.options(), out, fin);
        }));
        list.add(new Misuse("output of the wrong shape", "output", (la, f, out, fin) -> la.forward(
                f.inputs(), f.options(), f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))), fin)));
        list.add(new Misuse("final state aliasing the initial state", "finalState",
                (la, f, out, fin) -> la.forward(f.inputs(), f.options(), out, f.s0)));
        list.add(new Misuse("dOutput of the wrong shape", "dOutput", (la, f, out, fin) -> la.backward(
                f.inputs(), f.track(zeros(la, dt, Shape.of(2, 3, 6, 5))), null, f.options())));
        list.add(new Misuse("a NaN in k under the finite check", "k", (la, f, out, fin) -> {
            double[] x = f.k.toDoubleArray();
            x[x.length / 2] = Double.NaN;
            la.forward(new AttentionInputs(f.q, f.track(la.tensor(x, dt, f.k.shape())), f.v, f.decay, f.s0),
                    f.options().withFiniteCheck(true), out, fin);
        }));
        list.add(new Misuse("an infinity in dOutput under the finite check", "dOutput", (la, f, out, fin) -> {
            double[] x = f.v.toDoubleArray();
            x[x.length - 1] = Double.POSITIVE_INFINITY;
            la.backward(f.inputs(), f.track(la.tensor(x, dt, f.v.shape())), null, f.options().withFiniteCheck(true));
        }));
        list.add(new Misuse("decay gradient requested without learnable decay", "into.dDecay", (la, f, out, fin) -> la.backward(
                f.inputs(), f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), null, f.options(),
                new Gradients(f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 7, 4))),
                        f.track(zeros(la, dt, Shape.of(2, 3, 7, 5))), f.track(zeros(la, st, Shape.of(2, 3, 4, 5))),
                        f.track(zeros(la, st, Shape.of(3)))))));
        // What a forward kept, handed to a backward it does not belong to.
        list.add(new Misuse("saved kept for another length", "saved", (la, f, out, fin) -> {
            // What was kept holds no reference to the inputs, so they may go first.
            try (Fixture longer = Fixture.random(la, f.dtype, f.precision, f.c.withTokens(f.c.tokens() + 1, true),
                    new SplittableRandom(1)); SavedForward saved = keep(la, longer, longer.inputs(), longer.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept with another scale", "saved", (la, f, out, fin) -> {
            try (SavedForward saved = keep(la, f, f.inputs(), f.options().withScale(2 * f.c.scale()))) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept for other decay rates", "saved", (la, f, out, fin) -> {
            Tensor decay = f.track(la.tensor(new double[] {0.7, 0.8, 0.9}, st, Shape.of(3)));
            try (SavedForward saved = keep(la, f, new AttentionInputs(f.q, f.k, f.v, decay, f.s0), f.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved kept without the initial state", "saved", (la, f, out, fin) -> {
            try (SavedForward saved = keep(la, f, new AttentionInputs(f.q, f.k, f.v, f.decay, null), f.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("saved closed", "saved", (la, f, out, fin) -> {
            SavedForward saved = keep(la, f, f.inputs(), f.options());
            saved.close();
            backwardWith(la, f, saved);
        }));
        list.add(new Misuse("saved kept by another instance", "saved", (la, f, out, fin) -> {
            try (LightningAttention second = another.get();
                 Fixture there = Fixture.random(second, f.dtype, f.precision, f.c, new SplittableRandom(2));
                 SavedForward saved = keep(second, there, there.inputs(), there.options())) {
                backwardWith(la, f, saved);
            }
        }));
        list.add(new Misuse("decode state of the wrong shape", "state", (la, f, out, fin) -> la.decode(
                f.track(zeros(la, dt, Shape.of(2, 3, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 4))),
                f.track(zeros(la, dt, Shape.of(2, 3, 5))), f.decay, f.track(zeros(la, st, Shape.of(2, 3, 5, 4))), 1.0,
                f.track(zeros(la, dt, Shape.of(2, 3, 5))))));
        list.add(new Misuse("decode scale NaN", "scale", (la, f, out, fin) -> la.decode(
                f.track(zeros(la, dt, Shape.of(2, 3, 4))), f.track(zeros(la, dt, Shape.of(2, 3, 4))),
                f.track(zeros(la, dt, Shape.of(2, 3, 5))), f.decay, f.track(zeros(la, st, Shape.of(2, 3, 4, 5))), Double.NaN,
                f.track(zeros(la, dt, Shape.of(2, 3, 5))))));
        list.add(new Misuse("q made by another instance of the backend", "q", (la, f, out, fin) -> {
            try (LightningAttention second = another.get();
                 Tensor foreign = zeros(second, dt, Shape.of(2, 3, 7, 4))) {
                la.forward(new AttentionInputs(foreign, f.k, f.v, f.decay, f.s0), f.options(), out, fin);
            }
        }));
        return list;
    }

    /** A storage type the backend can allocate that differs from {@code dtype}, if any. */
    private static Optional<DType> otherDType(Set<DType> offered, DType dtype) {
        EnumSet<DType> allocatable = EnumSet.noneOf(DType.class);
        for (DType t : offered) {
            allocatable.add(t);
            allocatable.add(t.stateType());
        }
        allocatable.remove(dtype);
        return allocatable.stream().findFirst();
    }
}
