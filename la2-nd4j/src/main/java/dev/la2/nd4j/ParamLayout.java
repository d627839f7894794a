package dev.la2.nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Named [rows, cols] parameters laid out row-major, one after the other, in DL4J's flattened view. */
final class ParamLayout {
    private ParamLayout() {
    }

    static long numParams(Map<String, long[]> shapes) {
        long n = 0;
        for (long[] s : shapes.values()) {
            n += s[0] * s[1];
        }
        return n;
    }

    /** Views of each parameter in {@code flattened}, in the order of {@code shapes}. */
    static Map<String, INDArray> views(String layerName, Map<String, long[]> shapes, INDArray flattened) {
        long total = flattened.length();
        INDArray flat = flattened.reshape(total);
        Map<String, INDArray> out = new LinkedHashMap<>();
        long at = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] s = e.getValue();
            long n = s[0] * s[1];
            out.put(e.getKey(), flat.get(NDArrayIndex.interval(at, at + n)).reshape('c', s[0], s[1]));
            at += n;
        }
        if (at != total) {
            throw new IllegalStateException("layer " + layerName + ": parameter view has " + total
                    + " elements; the configuration needs " + at);
        }
        return out;
    }
}
