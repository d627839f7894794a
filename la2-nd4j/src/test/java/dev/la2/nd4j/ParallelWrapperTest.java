package dev.la2.nd4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Data-parallel training: every worker but the first rebuilds the network from the configuration's
 * JSON and runs the layer on its own thread, sharing the cached backend.
 */
class ParallelWrapperTest {

    @Test
    void averagingTwoWorkersReducesTheLoss() throws Exception {
        Random r = TestData.random("parallel");
        MultiLayerNetwork net = new MultiLayerNetwork(Nets.mln(DataType.FLOAT, new Adam(2e-2), RNNFormat.NCW, true, true));
        net.init();
        List<DataSet> batches = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            batches.add(copyTask(r, 4, 10));
        }
        DataSet all = DataSet.merge(batches);
        double before = net.score(all);
        try (ParallelWrapper pw = new ParallelWrapper.Builder<>(net).workers(2).prefetchBuffer(4).averagingFrequency(1)
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING).build()) {
            // Averaging after every batch halves the effective step early on: enough epochs that the
            // drop does not hinge on one unlucky draw (6 epochs failed about one run in three).
            for (int epoch = 0; epoch < 25; epoch++) {
                pw.fit(new ListDataSetIterator<>(batches, 1));
            }
        }
        double after = net.score(all);
        System.out.printf("ParallelWrapper, 2 workers, averaging: score %.4f -> %.4f%n", before, after);
        assertThat(after).as("score before %s, after %s", before, after).isLessThan(0.8 * before);
    }

    /** Each step's class is the class of the previous step's dominant feature: needs one step of memory. */
    private static DataSet copyTask(Random r, int batch, int steps) {
        INDArray x = Nd4j.zeros(DataType.FLOAT, batch, Nets.N_IN, steps);
        INDArray y = Nd4j.zeros(DataType.FLOAT, batch, Nets.CLASSES, steps);
        for (int b = 0; b < batch; b++) {
            int previous = 0;
            for (int t = 0; t < steps; t++) {
                int c = r.nextInt(Nets.CLASSES);
                x.putScalar(b, c, t, 1.0);
                x.putScalar(b, Nets.N_IN - 1, t, r.nextGaussian() * 0.1);
                y.putScalar(b, previous, t, 1.0);
                previous = c;
            }
        }
        return new DataSet(x, y);
    }
}
