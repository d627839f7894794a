/**
 * la2 for ND4J and DL4J.
 *
 * <p>{@link dev.la2.nd4j.Nd4jAttention} runs any la2 backend on INDArrays in BHND, BNHD or DL4J's
 * NCW / NWC recurrent layouts, viewing dense host memory in place where the backend allows it.
 *
 * <p>{@link dev.la2.nd4j.LightningAttentionLayer} is a DL4J layer with its own forward and backward
 * pass through la2, usable in MultiLayerNetwork and ComputationGraph:
 * <pre>{@code
 * .layer(new LightningAttentionLayer.Builder().nIn(256).nOut(256).nHeads(8)   // head size 256/8
 *         .headNorm(true).learnableDecay(true).build())
 * .setInputType(InputType.recurrent(256))
 * }</pre>
 * Masks, rnnTimeStep (the [minibatch, H, D, E] state is carried between calls), truncated BPTT,
 * JSON/YAML, ModelSerializer and ParallelWrapper work as for DL4J's own recurrent layers. One
 * backend instance per (name, data type) is shared by all layers and threads ({@link dev.la2.nd4j.BackendCache}).
 */
package dev.la2.nd4j;
