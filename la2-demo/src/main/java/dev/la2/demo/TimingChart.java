package dev.la2.demo;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The timing table drawn as a chart: microseconds per token against sequence length, both layers. */
final class TimingChart {
    private TimingChart() {
    }

    /**
     * Fails now where {@link #write} could not write {@code chart} at the end of a run: its directory
     * is created, and a file is made beside it and removed again; an existing chart must be a
     * writable file. The exception's message says what went wrong.
     */
    static void requireWritable(Path chart) throws IOException {
        Path target = chart.toAbsolutePath();
        if (Files.isDirectory(target)) {
            throw new IOException(target + " is a directory");
        }
        if (Files.exists(target) && !Files.isWritable(target)) {
            throw new IOException(target + " is not writable");
        }
        Path dir = target.getParent() != null ? target.getParent() : target.getRoot();
        Files.createDirectories(dir);
        Files.delete(Files.createTempFile(dir, "." + target.getFileName(), ".tmp"));
    }

    /**
     * Draws {@code rows} as a PNG at {@code chart} (its folders created), for layers of width
     * {@code model} with {@code heads} heads; returns the absolute path written.
     */
    static Path write(List<LayerTimingTable.Row> rows, String backendName, int model, int heads, Path chart)
            throws IOException {
        if (System.getProperty("java.awt.headless") == null) {
            // Drawing needs no display; without this a server JVM may look for one.
            System.setProperty("java.awt.headless", "true");
        }
        XYChart c = new XYChartBuilder().width(900).height(560)
                .title("One attention layer, forward + backward, per token (d_model " + model + ", " + heads + " heads)")
                .xAxisTitle("sequence length N").yAxisTitle("microseconds per token").build();
        // x is log2(N) so every measured length gets its own labelled tick.
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setxAxisTickLabelsFormattingFunction(x -> {
            double r = Math.rint(x);
            return Math.abs(x - r) < 1e-9 ? String.valueOf((long) Math.pow(2, r)) : "";
        });
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Vertical);
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        List<Double> n = new ArrayList<>();
        List<Double> lightning = new ArrayList<>();
        List<Double> sn = new ArrayList<>();
        List<Double> softmax = new ArrayList<>();
        String softmaxStop = "";
        for (LayerTimingTable.Row r : rows) {
            double log2 = Math.log(r.length()) / Math.log(2);
            n.add(log2);
            lightning.add(r.lightningMicros());
            if (r.softmaxMicros() != null) {
                sn.add(log2);
                softmax.add(r.softmaxMicros());
            } else if (softmaxStop.isEmpty()) {
                softmaxStop = "; stopped at N=" + r.length() + ": " + r.softmaxNote().replaceFirst("^stopped: ", "");
            }
        }
        // XChart's log axis otherwise ends at a power of ten and can cut off the top point.
        double max = java.util.stream.Stream.concat(lightning.stream(), softmax.stream()).mapToDouble(d -> d).max().orElse(1);
        double min = java.util.stream.Stream.concat(lightning.stream(), softmax.stream()).mapToDouble(d -> d).min().orElse(1);
        c.getStyler().setYAxisMax(max * 1.5);
        c.getStyler().setYAxisMin(min / 1.5);
        XYSeries l = c.addSeries("LightningAttentionLayer (la2 '" + backendName + "')", n, lightning);
        l.setMarker(SeriesMarkers.CIRCLE);
        if (!softmax.isEmpty()) {
            XYSeries s = c.addSeries("DL4J SelfAttentionLayer (softmax" + softmaxStop + ")", sn, softmax);
            s.setMarker(SeriesMarkers.DIAMOND);
        }
        Path target = chart.toAbsolutePath();
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        try (OutputStream os = Files.newOutputStream(target)) {
            BitmapEncoder.saveBitmap(c, os, BitmapEncoder.BitmapFormat.PNG);
        }
        return target;
    }
}
