package dev.la2.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Kept states go back to their pool only once no backward reads them. */
class BlockStatesTest {

    private static BlockStates kept(StatePool pool) {
        return new BlockStates(new SegmentPlan(2, 130, 1, 192), 64, 8, 4, false, pool);
    }

    @Test
    void aBufferClosedWhileReadReturnsToThePoolWhenTheReadingEnds() {
        Scratch scratch = new Scratch();
        try (StatePool pool = new StatePool(scratch)) {
            BlockStates first = kept(pool);
            long bytes = 4L * 8 * 4 * 3 * 2;
            assertThat(first.byteSize()).isEqualTo(bytes);
            float[] state = new float[32];
            state[5] = 7f;
            first.put(1, 64, state);

            assertThat(first.startReading()).isTrue();
            first.close();
            assertThat(first.startReading()).as("no new reader once closed").isFalse();
            // Still being read: a new keeping call must get other memory, not this buffer.
            BlockStates second = kept(pool);
            second.put(1, 64, new float[32]);
            float[] read = new float[32];
            first.get(1, 64, read);
            assertThat(read[5]).isEqualTo(7f);
            second.close();

            first.endReading();
            assertThat(scratch.live()).as("both buffers idle in the pool").isEqualTo(2 * bytes);
        }
        assertThat(scratch.live()).as("the pool's close frees its idle buffers").isZero();
    }

    @Test
    void theSmallestFittingIdleBufferIsReused() {
        Scratch scratch = new Scratch();
        try (StatePool pool = new StatePool(scratch)) {
            StatePool.Buffer big = pool.acquire(4096);
            StatePool.Buffer small = pool.acquire(1024);
            pool.release(big);
            pool.release(small);
            assertThat(pool.acquire(1000)).isSameAs(small);
            assertThat(pool.acquire(1000).segment().byteSize()).as("the big one, as nothing smaller is idle").isEqualTo(4096);
            assertThat(pool.acquire(8192).segment().byteSize()).as("nothing idle fits: new memory").isEqualTo(8192);
        }
    }
}
