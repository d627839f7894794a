package dev.la2.backend.cuda;

import static dev.la2.backend.cuda.ParamLayouts.Kind.F64;
import static dev.la2.backend.cuda.ParamLayouts.Kind.I64;
import static dev.la2.backend.cuda.ParamLayouts.Kind.PTR;

/**
 * The kernel parameter structs of params.cuh, one enum per struct with the same simple name and
 * one constant per field, in declaration order: a field's ordinal is its index, its byte offset 8
 * times that. ParamLayoutTest checks every name and index against params.cuh, without a GPU.
 */
final class ParamLayouts {
    private ParamLayouts() {
    }

    enum Kind { PTR, I64, F64 }

    /** A field's name in params.cuh and what it holds. */
    record Spec(String cName, Kind kind) {
    }

    /** A struct field (an enum constant of one of the structs below). */
    interface Field {
        Spec spec();

        default String cName() {
            return spec().cName();
        }

        default Kind kind() {
            return spec().kind();
        }
    }

    enum SweepParams implements Field {
        Q("q", PTR), K("k", PTR), V("v", PTR), O("o", PTR), W("w", PTR), S0("s0", PTR), SFINAL("sfinal", PTR),
        SCRATCH("scratch", PTR), DECAY("decay", PTR), ACC("acc", PTR),
        N("N", I64), H("H", I64), BH("BH", I64), DK("Dk", I64), DV("Dv", I64), ET("ET", I64), C("C", I64), L("L", I64),
        NSEG("nseg", I64), MODE("mode", I64), REV("rev", I64), OFS0("ofs0", I64), FINAL_POW("finalPow", I64),
        WRITE_OUT("writeOut", I64),
        K_B("kB", I64), K_H("kH", I64), K_T("kT", I64), V_B("vB", I64), V_H("vH", I64), V_T("vT", I64),
        S0I("s0i", I64), S0J("s0j", I64), FI("fi", I64), FJ("fj", I64),
        ALPHA("alpha", F64), BETA("beta", F64), KAPPA("kappa", F64);

        private final Spec spec;

        SweepParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum DecayGradParams implements Field {
        ACC_V("accV", PTR), ACC_O("accO", PTR), D_S0("dS0", PTR), S0("s0", PTR), D_SF("dSf", PTR), SFIN("sfin", PTR),
        D_DECAY("dDecay", PTR), B("B", I64), H("H", I64), N("N", I64), DK_DV("DkDv", I64);

        private final Spec spec;

        DecayGradParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum DecaySweepParams implements Field {
        Q("q", PTR), K("k", PTR), V("v", PTR), D_O("dO", PTR), D_Q("dq", PTR), S0("s0", PTR), D_SF("dSf", PTR),
        SCRATCH("scratch", PTR), DECAY("decay", PTR), ACC("acc", PTR),
        N("N", I64), H("H", I64), DK("Dk", I64), DV("Dv", I64), ET("ET", I64), C("C", I64), L("L", I64), NSEG("nseg", I64),
        MODE("mode", I64), K_B("kB", I64), K_H("kH", I64), K_T("kT", I64), V_B("vB", I64), V_H("vH", I64), V_T("vT", I64),
        SCALE("scale", F64);

        private final Spec spec;

        DecaySweepParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum DecaySumParams implements Field {
        ACC("acc", PTR), D_DECAY("dDecay", PTR), B("B", I64), H("H", I64);

        private final Spec spec;

        DecaySumParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum DecodeParams implements Field {
        Q("q", PTR), K("k", PTR), V("v", PTR), DECAY("decay", PTR), STATE("state", PTR), O("o", PTR),
        H("H", I64), D("D", I64), E("E", I64), SCALE("scale", F64);

        private final Spec spec;

        DecodeParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum RandomParams implements Field {
        OUT("out", PTR), N("n", I64), SEED("seed", I64), STDDEV("stddev", F64);

        private final Spec spec;

        RandomParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum ConvertParams implements Field {
        SRC("src", PTR), DST("dst", PTR), N("n", I64);

        private final Spec spec;

        ConvertParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum PackedParams implements Field {
        RANGES("ranges", PTR), ORDER("order", PTR);

        private final Spec spec;

        PackedParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum SlotParams implements Field {
        SLOTS("slots", PTR), ORDER("order", PTR);

        private final Spec spec;

        SlotParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum SlotCopyParams implements Field {
        POOL("pool", PTR), DENSE("dense", PTR), SLOTS("slots", PTR), STATE_SIZE("stateSize", I64), SCATTER("scatter", I64);

        private final Spec spec;

        SlotCopyParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }

    enum ZeroRowsParams implements Field {
        BASE("base", PTR), SLOTS("slots", PTR), ROW_BYTES("rowBytes", I64);

        private final Spec spec;

        ZeroRowsParams(String cName, Kind kind) {
            spec = new Spec(cName, kind);
        }

        @Override
        public Spec spec() {
            return spec;
        }
    }
}
