package dev.la2.parallel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The unique-id exchange over TCP, on this host, with a stand-in id (no NCCL needed). */
class NcclRendezvousTest {

    private static InetSocketAddress freeLoopbackPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), s.getLocalPort());
        }
    }

    @Test
    void everyRankGetsRankZerosId() throws IOException {
        byte[] id = new byte[128];
        new SplittableRandom().nextBytes(id);
        InetSocketAddress root = freeLoopbackPort();
        List<Communicator> comms = new InProcessGroup(4).communicators();
        List<byte[]> ids = Ranks.values(Ranks.run(comms, (rank, comm) ->
                NcclRendezvous.exchange(rank, 4, root, () -> id.clone(), Duration.ofSeconds(20))));
        for (byte[] got : ids) {
            assertThat(got).containsExactly(id);
        }
    }

    @Test
    void aMissingRootTimesOut() throws IOException {
        InetSocketAddress root = freeLoopbackPort();
        assertThatThrownBy(() -> NcclRendezvous.exchange(1, 2, root, () -> new byte[128], Duration.ofMillis(300)))
                .isInstanceOf(CommunicationException.class).hasMessageContaining("could not reach rank 0");
    }
}
