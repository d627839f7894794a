package dev.la2.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the Java mirror of the kernel parameter structs against params.cuh. */
class ParamLayoutTest {
    private static final Path PARAMS = Path.of("src/main/cuda/params.cuh");

    /** A field of a C struct: its name and the Java kind its C type packs as. */
    private record CField(String name, ParamLayouts.Kind kind) {
    }

    private static Map<String, List<CField>> structs(String source) {
        Map<String, List<CField>> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("struct (\\w+) \\{(.*?)\\};", Pattern.DOTALL).matcher(source);
        while (m.find()) {
            List<CField> fields = new ArrayList<>();
            String body = m.group(2).replaceAll("//[^\n]*", "");
            for (String decl : body.split(";")) {
                Matcher d = Pattern.compile("^\\s*((?:const\\s+)?\\w+\\s*\\*?)\\s*(.+?)\\s*$", Pattern.DOTALL).matcher(decl);
                if (!d.matches()) {
                    continue;
                }
                String type = d.group(1).trim();
                ParamLayouts.Kind kind = type.endsWith("*") ? ParamLayouts.Kind.PTR
                        : type.equals("i64") ? ParamLayouts.Kind.I64
                        : type.equals("double") ? ParamLayouts.Kind.F64 : null;
                assertThat(kind).as("C type of " + decl.trim()).isNotNull();
                for (String name : d.group(2).split(",")) {
                    fields.add(new CField(name.trim(), kind));
                }
            }
            out.put(m.group(1), fields);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static List<Class<? extends Enum<?>>> mirrors() {
        List<Class<? extends Enum<?>>> out = new ArrayList<>();
        for (Class<?> c : ParamLayouts.class.getDeclaredClasses()) {
            if (c.isEnum() && ParamLayouts.Field.class.isAssignableFrom(c)) {
                out.add((Class<? extends Enum<?>>) c);
            }
        }
        return out;
    }

    @Test
    void everyStructIsMirroredFieldForField() throws IOException {
        String source = Files.readString(PARAMS);
        Map<String, List<CField>> c = structs(source);
        List<Class<? extends Enum<?>>> java = mirrors();
        assertThat(java.stream().map(Class::getSimpleName)).containsExactlyInAnyOrderElementsOf(c.keySet());
        for (Class<? extends Enum<?>> mirror : java) {
            List<CField> mirrored = Arrays.stream(mirror.getEnumConstants())
                    .map(f -> new CField(((ParamLayouts.Field) f).cName(), ((ParamLayouts.Field) f).kind())).toList();
            assertThat(mirrored).as(mirror.getSimpleName()).containsExactlyElementsOf(c.get(mirror.getSimpleName()));
        }
    }

    @Test
    void pinnedOffsetsAndSizesAgreeWithTheMirror() throws IOException {
        String source = Files.readString(PARAMS);
        Map<String, Integer> sizes = new HashMap<>();
        Matcher fields = Pattern.compile("LA2_FIELDS\\((\\w+), (\\d+)\\);").matcher(source);
        while (fields.find()) {
            sizes.put(fields.group(1), Integer.parseInt(fields.group(2)));
        }
        Map<String, Map<String, Integer>> at = new HashMap<>();
        Matcher m = Pattern.compile("LA2_AT\\((\\w+), (\\w+), (\\d+)\\);").matcher(source);
        while (m.find()) {
            at.computeIfAbsent(m.group(1), k -> new HashMap<>()).put(m.group(2), Integer.parseInt(m.group(3)));
        }
        for (Class<? extends Enum<?>> mirror : mirrors()) {
            String name = mirror.getSimpleName();
            Enum<?>[] constants = mirror.getEnumConstants();
            assertThat(sizes.get(name)).as("LA2_FIELDS of " + name).isEqualTo(constants.length);
            Map<String, Integer> pinned = at.get(name);
            assertThat(pinned).as("LA2_AT of " + name).hasSize(constants.length);
            for (Enum<?> f : constants) {
                assertThat(pinned.get(((ParamLayouts.Field) f).cName())).as(name + "." + f).isEqualTo(f.ordinal());
            }
        }
    }

    @Test
    void kernelArgsPackEachFieldAtItsOffset() {
        KernelArgs<ParamLayouts.RandomParams> args = KernelArgs.of(ParamLayouts.RandomParams.class)
                .ptr(ParamLayouts.RandomParams.OUT, 0x1000L).i64(ParamLayouts.RandomParams.N, 7)
                .i64(ParamLayouts.RandomParams.SEED, -3).f64(ParamLayouts.RandomParams.STDDEV, 0.5);
        ByteBuffer b = ByteBuffer.wrap(args.bytes()).order(ByteOrder.nativeOrder());
        assertThat(b.capacity()).isEqualTo(32);
        assertThat(b.getLong(0)).isEqualTo(0x1000L);
        assertThat(b.getLong(8)).isEqualTo(7);
        assertThat(b.getLong(16)).isEqualTo(-3);
        assertThat(b.getDouble(24)).isEqualTo(0.5);
    }

    @Test
    void kernelArgsRefuseAMissingFieldOrAWrongKind() {
        assertThatThrownBy(() -> KernelArgs.of(ParamLayouts.ConvertParams.class).ptr(ParamLayouts.ConvertParams.SRC, 8L).bytes())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("DST");
        assertThatThrownBy(() -> KernelArgs.of(ParamLayouts.ConvertParams.class).i64(ParamLayouts.ConvertParams.SRC, 8L))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
