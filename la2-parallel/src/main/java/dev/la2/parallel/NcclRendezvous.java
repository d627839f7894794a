package dev.la2.parallel;

import dev.la2.api.La2ArgumentException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * Hands rank 0's NCCL unique id to every other rank over TCP, so that ranks on several hosts can
 * join one communicator: rank 0 listens at the given address and sends the id to each of the
 * {@code size - 1} ranks that connect; the others connect (retrying until rank 0 listens) and read
 * it. Each message is a fixed header and the 128 bytes of the id.
 */
public final class NcclRendezvous {
    private static final byte[] MAGIC = "la2-nccl-id-v1".getBytes(StandardCharsets.US_ASCII);

    private NcclRendezvous() {
    }

    /**
     * Rank 0 makes the id with {@code make} and serves it; other ranks fetch it. Returns the id on
     * every rank; throws {@link CommunicationException} when {@code timeout} passes first.
     */
    public static byte[] exchange(int rank, int size, InetSocketAddress root, Supplier<byte[]> make, Duration timeout) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new La2ArgumentException("rank", rank + " of " + size, "a rank from 0 to size-1 of at least one rank");
        }
        if (root == null) {
            throw new La2ArgumentException("root", "null", "the address where rank 0 listens");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            return rank == 0 ? serve(size, root, make.get(), deadline) : fetch(rank, root, deadline);
        } catch (IOException e) {
            throw new CommunicationException("rank " + rank + " of " + size + ": NCCL id exchange through " + root + " failed: " + e, e);
        }
    }

    private static byte[] serve(int size, InetSocketAddress root, byte[] id, long deadline) throws IOException {
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(root.getPort()));
            for (int served = 1; served < size; served++) {
                server.setSoTimeout(remainingMillis(deadline, "rank 0 waited for " + (size - served) + " more ranks"));
                try (Socket s = server.accept(); DataOutputStream out = new DataOutputStream(s.getOutputStream())) {
                    out.write(MAGIC);
                    out.writeInt(id.length);
                    out.write(id);
                } catch (SocketTimeoutException e) {
                    throw new CommunicationException("rank 0: " + (size - served) + " ranks never fetched the NCCL id at " + root, e);
                }
            }
        }
        return id;
    }

    private static byte[] fetch(int rank, InetSocketAddress root, long deadline) throws IOException {
        while (true) {
            int wait = remainingMillis(deadline, "rank " + rank + " could not reach rank 0 at " + root);
            try (Socket s = new Socket()) {
                s.connect(root, wait);
                s.setSoTimeout(wait);
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] magic = in.readNBytes(MAGIC.length);
                int length = in.readInt();
                if (!Arrays.equals(magic, MAGIC) || length != NcclLibrary.UNIQUE_ID_BYTES) {
                    throw new CommunicationException("rank " + rank + ": " + root + " is not an la2 NCCL rendezvous");
                }
                return in.readNBytes(length);
            } catch (ConnectException e) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new CommunicationException("rank " + rank + " was interrupted waiting for rank 0", ie);
                }
            }
        }
    }

    private static int remainingMillis(long deadline, String what) {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new CommunicationException(what + " in time");
        }
        return (int) Math.min(Integer.MAX_VALUE, left);
    }
}
