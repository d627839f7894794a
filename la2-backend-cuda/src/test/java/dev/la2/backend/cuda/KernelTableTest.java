package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.la2.api.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the kernel table against the entry points la2_kernels.cu defines. */
class KernelTableTest {

    @Test
    void everyEntryPointIsInTheTableAndNoOther() throws Exception {
        String source = Files.readString(Path.of("src/main/cuda/la2_kernels.cu"));
        Set<String> symbols = new HashSet<>();
        Matcher plain = Pattern.compile("extern \"C\" __global__ void (?:__launch_bounds__\\([^)]*\\) )?(\\w+)\\(").matcher(source);
        while (plain.find()) {
            symbols.add(plain.group(1));
        }
        // the tensor-core sweeps' macros define NAME, NAME_bwd and both again with _packed
        Matcher twice = Pattern.compile("^LA2_SWEEP_(?:MMA|WIDE|HOPPER)\\((\\w+),", Pattern.MULTILINE).matcher(source);
        while (twice.find()) {
            for (String name : new String[] {twice.group(1), twice.group(1) + "_bwd"}) {
                symbols.add(name);
                symbols.add(name + "_packed");
            }
        }
        // the Hopper sweep's TMA macro defines NAME, NAME_bwd and NAME_bwd_rev; its split macro the latter two
        Matcher tma = Pattern.compile("^LA2_SWEEP_HOPPER_(TMA|SPLIT)\\((\\w+),", Pattern.MULTILINE).matcher(source);
        while (tma.find()) {
            if (tma.group(1).equals("TMA")) {
                symbols.add(tma.group(2));
            }
            symbols.add(tma.group(2) + "_bwd");
            symbols.add(tma.group(2) + "_bwd_rev");
        }
        // the Hopper TF32 macro defines NAME, NAME_bwd, NAME_bwd_rev and NAME_bwd_chain
        Matcher tf32 = Pattern.compile("^LA2_SWEEP_HOPPER_TF32\\((\\w+)\\)", Pattern.MULTILINE).matcher(source);
        while (tf32.find()) {
            for (String suffix : new String[] {"", "_bwd", "_bwd_rev", "_bwd_chain"}) {
                symbols.add(tf32.group(1) + suffix);
            }
        }
        // the fused dv + dk macros define NAME_dkdv (TMA), NAME_dkdv and NAME_dkdv_packed (LOADED)
        Matcher dkdv = Pattern.compile("^LA2_SWEEP_HOPPER_DKDV(_LOADED)?\\((\\w+),", Pattern.MULTILINE).matcher(source);
        while (dkdv.find()) {
            symbols.add(dkdv.group(2) + "_dkdv");
            if (dkdv.group(1) != null) {
                symbols.add(dkdv.group(2) + "_dkdv_packed");
            }
        }
        // the decay gradient's Hopper macro defines NAME
        Matcher decay = Pattern.compile("^LA2_DECAY_SWEEP_HOPPER\\((\\w+),", Pattern.MULTILINE).matcher(source);
        while (decay.find()) {
            symbols.add(decay.group(1));
        }
        // the packed and by-slot wrappers of la2_kernels.cu define NAME
        Matcher wrapped = Pattern.compile("^LA2_(?:PACKED_SWEEP|PACKED_DECAY|DECODE_SLOTS)\\((\\w+),", Pattern.MULTILINE)
                .matcher(source);
        while (wrapped.find()) {
            symbols.add(wrapped.group(1));
        }
        Set<String> table = new HashSet<>();
        for (Kernel k : Kernel.values()) {
            table.add(k.symbol());
            if (k.variant() != null) {
                table.add(k.symbol() + k.variant());
            }
        }
        assertThat(table).containsExactlyInAnyOrderElementsOf(symbols);
    }

    @Test
    void selectorsNameExistingKernels() {
        assertThat(Kernel.tensorCore(Kernel.TensorCore.WIDE, "bf16", 128, true).symbol()).isEqualTo("la2_sweep_wide_bf16_d128_bwd");
        assertThat(Kernel.tensorCore(Kernel.TensorCore.TC, "f32x3", 64, false).symbol()).isEqualTo("la2_sweep_tc_f32x3_d64");
        assertThat(Kernel.tensorCore(Kernel.TensorCore.HOPPER, "f16", 128, false).symbol()).isEqualTo("la2_sweep_hopper_f16_d128");
        assertThat(Kernel.SWEEP_HOPPER_F16_D128_BWD.tma().symbol()).isEqualTo("la2_sweep_hopper_tma_f16_d128_bwd");
        assertThat(Kernel.SWEEP_HOPPER_TMA_BF16_D128.tma()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_BF16_D128.variant()).isNull();
        assertThat(Kernel.SWEEP_WIDE_BF16_D128.tma()).isNull();
        assertThat(Kernel.hopperSplit(dev.la2.api.DType.FP16).symbol()).isEqualTo("la2_sweep_hopper_split_f16_d128_bwd");
        assertThat(Kernel.SWEEP_HOPPER_SPLIT_BF16_D128_BWD.tma()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_SPLIT_BF16_D128_BWD.variant()).isNull();
        assertThat(Kernel.decaySweepHopper(dev.la2.api.DType.FP16).symbol()).isEqualTo("la2_decay_sweep_hopper_f16_d128");
        assertThat(Kernel.DECAY_SWEEP_HOPPER_BF16_D128.variant()).as("no packed entry point").isNull();
        assertThat(Kernel.DECAY_SWEEP_BF16.variant()).isEqualTo("_packed");
        assertThat(Kernel.SWEEP_HOPPER_SPLIT_BF16_D128_BWD.reversed().symbol()).isEqualTo("la2_sweep_hopper_split_bf16_d128_bwd_rev");
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128_BWD.reversed()).isEqualTo(Kernel.SWEEP_HOPPER_TMA_F16_D128_BWD_REV);
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128.reversed()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_F16_D128_BWD.reversed()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128_BWD_REV.variant()).isNull();
        assertThat(Kernel.hopperDkDv(DType.BF16).symbol()).isEqualTo("la2_sweep_hopper_bf16_d128_dkdv");
        assertThat(Kernel.hopperDkDv(DType.BF16).variant()).isEqualTo("_packed");
        assertThat(Kernel.hopperDkDv(DType.FP16).tma()).isEqualTo(Kernel.SWEEP_HOPPER_TMA_F16_D128_DKDV);
        assertThat(Kernel.SWEEP_HOPPER_F16_D128_DKDV.reversed()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128_DKDV.variant()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128_DKDV.tma()).isNull();
        assertThat(Kernel.SWEEP_HOPPER_TMA_F16_D128_DKDV.reversed()).isNull();
        assertThat(Kernel.sweep(dev.la2.api.DType.FP16).symbol()).isEqualTo("la2_sweep_f16");
        assertThat(Kernel.convert(dev.la2.api.DType.BF16, false).symbol()).isEqualTo("la2_narrow_bf16");
    }
}
