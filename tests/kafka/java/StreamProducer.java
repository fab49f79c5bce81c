import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A long-running idempotent producer fed one record at a time, for streams
 * that go on while a test breaks things: unlike TestProducer it keeps no
 * per-record state, so a stream of millions runs in constant memory, and it
 * reports progress while it runs.
 *
 * Usage: StreamProducer BOOTSTRAP TOPIC [producer.property=value ...]
 * (acks=all and enable.idempotence=true unless overridden)
 *
 * stdin: TestProducer's R lines, one record each; end of input ends the run.
 *
 * stdout:
 *   ACKED acked failed            (every 500 ms while running)
 *   ERROR description             (the first failed send, if any)
 *   DONE sent acked failed        (after everything sent was acknowledged or failed)
 */
public final class StreamProducer {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: StreamProducer BOOTSTRAP TOPIC [key=value ...]");
            System.exit(2);
        }
        String topic = args[1];
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        Wire.putProperties(props, args, 2, "producer");

        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>();
        Thread reporter = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(500);
                    synchronized (out) {
                        out.println("ACKED " + acked.get() + " " + failed.get());
                    }
                }
            } catch (InterruptedException e) {
                // The run is over.
            }
        });
        reporter.setDaemon(true);
        reporter.start();

        long sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split(" ", -1);
                if (!f[0].equals("R")) {
                    throw new IllegalArgumentException("line " + lineNo + ": unknown command " + f[0]);
                }
                producer.send(TestProducer.parseRecord(topic, f, lineNo), (md, e) -> {
                    if (e == null) {
                        acked.incrementAndGet();
                    } else {
                        failed.incrementAndGet();
                        firstError.compareAndSet(null, e.toString());
                    }
                });
                sent++;
            }
            producer.flush();
        }
        reporter.interrupt();
        reporter.join();
        synchronized (out) {
            if (firstError.get() != null) {
                out.println("ERROR " + firstError.get().replace('\n', ' '));
            }
            out.println("DONE " + sent + " " + acked.get() + " " + failed.get());
        }
    }
}
