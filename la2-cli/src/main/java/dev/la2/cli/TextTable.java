package dev.la2.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** Left-aligned text columns sized to their widest cell; the last column is never padded. */
final class TextTable {
    private final List<String[]> rows = new ArrayList<>();
    private final boolean[] rightAligned;

    TextTable(String... header) {
        rows.add(header);
        rightAligned = new boolean[header.length];
    }

    TextTable alignRight(int... columns) {
        for (int c : columns) {
            rightAligned[c] = true;
        }
        return this;
    }

    TextTable add(String... cells) {
        if (cells.length != rows.get(0).length) {
            throw new IllegalArgumentException("cells: got " + cells.length + "; expected " + rows.get(0).length);
        }
        rows.add(cells);
        return this;
    }

    void print(PrintWriter out, String indent) {
        int[] width = new int[rows.get(0).length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder sb = new StringBuilder(indent);
            for (int i = 0; i < row.length; i++) {
                boolean last = i == row.length - 1;
                String pad = " ".repeat(width[i] - row[i].length());
                if (rightAligned[i]) {
                    sb.append(pad).append(row[i]);
                } else {
                    sb.append(row[i]).append(last ? "" : pad);
                }
                if (!last) {
                    sb.append("  ");
                }
            }
            out.println(sb.toString().stripTrailing());
        }
    }
}
