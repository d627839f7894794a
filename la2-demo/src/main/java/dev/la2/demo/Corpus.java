package dev.la2.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.TreeSet;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A text as character ids, split into a training part and a held-out tail, with random windows
 * for next-character prediction.
 */
final class Corpus {
    /** The shipped text: Moby-Dick, chapters 1-54 (public domain; see the NOTICE file beside it). */
    static final String RESOURCE = "moby-dick-1-54.txt";

    private final String text;
    private final char[] alphabet;
    private final int[] ids;
    private final int trainEnd;

    Corpus(String text, double heldOutFraction) {
        if (text.length() < 1000) {
            throw new IllegalArgumentException("text: got " + text.length() + " characters; expected at least 1000");
        }
        this.text = text;
        TreeSet<Character> chars = new TreeSet<>();
        for (int i = 0; i < text.length(); i++) {
            chars.add(text.charAt(i));
        }
        alphabet = new char[chars.size()];
        int a = 0;
        for (char c : chars) {
            alphabet[a++] = c;
        }
        ids = new int[text.length()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = Arrays.binarySearch(alphabet, text.charAt(i));
        }
        trainEnd = (int) (ids.length * (1 - heldOutFraction));
    }

    static Corpus shipped() {
        try (InputStream in = Corpus.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + RESOURCE + " is missing from the la2-demo jar");
            }
            return new Corpus(new String(in.readAllBytes(), StandardCharsets.US_ASCII), 0.05);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int vocabulary() {
        return alphabet.length;
    }

    int length() {
        return ids.length;
    }

    int trainLength() {
        return trainEnd;
    }

    boolean contains(char c) {
        return Arrays.binarySearch(alphabet, c) >= 0;
    }

    int id(char c) {
        int i = Arrays.binarySearch(alphabet, c);
        if (i < 0) {
            throw new IllegalArgumentException("character '" + c + "' does not occur in the corpus");
        }
        return i;
    }

    char character(int id) {
        return alphabet[id];
    }

    /**
     * Entropy of the training text's character frequencies, in nats: the loss of the best model
     * that ignores context. A language model that learns anything ends well below it.
     */
    double unigramEntropy() {
        long[] counts = new long[alphabet.length];
        for (int i = 0; i < trainEnd; i++) {
            counts[ids[i]]++;
        }
        double h = 0;
        for (long c : counts) {
            if (c > 0) {
                double p = (double) c / trainEnd;
                h -= p * Math.log(p);
            }
        }
        return h;
    }

    /**
     * {@code batch} windows of {@code steps} characters: features [batch, steps] (character ids)
     * and one-hot labels [batch, V, steps] holding the next character at each position.
     */
    DataSet batch(Random random, int batch, int steps, boolean heldOut) {
        int from = heldOut ? trainEnd : 0;
        int to = heldOut ? ids.length : trainEnd;
        if (to - from < steps + 2) {
            throw new IllegalArgumentException("steps: got " + steps + "; the " + (heldOut ? "held-out" : "training")
                    + " text has only " + (to - from) + " characters");
        }
        float[] features = new float[batch * steps];
        INDArray labels = Nd4j.zeros(DataType.FLOAT, batch, alphabet.length, steps);
        for (int b = 0; b < batch; b++) {
            int start = from + random.nextInt(to - from - steps - 1);
            for (int t = 0; t < steps; t++) {
                features[b * steps + t] = ids[start + t];
                labels.putScalar(b, ids[start + t + 1], t, 1f);
            }
        }
        return new DataSet(Nd4j.create(features, new long[] {batch, steps}, 'c'), labels);
    }

    String text() {
        return text;
    }
}
