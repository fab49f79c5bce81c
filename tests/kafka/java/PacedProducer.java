import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A fixed-rate stream whose records carry their *scheduled* send time as
 * their timestamp: record i is due at start + i / rate. When the producer
 * falls behind (a GC pause, a slow broker) the records it sends late still
 * say when they were due, so a latency measured as arrival minus timestamp
 * counts the wait too and coordinated omission does not hide it. Record i
 * carries the header seq = i (decimal), so its arrivals can be matched on
 * two clusters.
 *
 * Usage: PacedProducer BOOTSTRAP TOPIC RATE COUNT SIZE [producer.property=value ...]
 *
 * stdout at the end: "SENT count late_max_ms", where late_max_ms is how far
 * behind its schedule the producer fell at worst.
 */
public final class PacedProducer {
    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: PacedProducer BOOTSTRAP TOPIC RATE COUNT SIZE [key=value ...]");
            System.exit(2);
        }
        String topic = args[1];
        double rate = Double.parseDouble(args[2]);
        long count = Long.parseLong(args[3]);
        int size = Integer.parseInt(args[4]);
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        Wire.putProperties(props, args, 5, "producer");
        byte[] value = new byte[size];
        new Random(7).nextBytes(value);
        long lateMaxNs = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            // Warm the connection and metadata before the schedule starts.
            producer.partitionsFor(topic);
            long startWallMs = System.currentTimeMillis();
            long startNs = System.nanoTime();
            double intervalNs = 1e9 / rate;
            for (long i = 0; i < count; i++) {
                long dueNs = startNs + (long) (i * intervalNs);
                long waitNs;
                while ((waitNs = dueNs - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(waitNs);
                }
                lateMaxNs = Math.max(lateMaxNs, -waitNs);
                long dueWallMs = startWallMs + TimeUnit.NANOSECONDS.toMillis(dueNs - startNs);
                // The sequence number names the record wherever it is read
                // (the benchmark matches its arrivals on both clusters).
                ProducerRecord<byte[], byte[]> record =
                        new ProducerRecord<>(topic, null, dueWallMs, null, value);
                record.headers().add("seq", Long.toString(i).getBytes(StandardCharsets.UTF_8));
                producer.send(record);
            }
            producer.flush();
        }
        System.out.println("SENT " + count + " " + TimeUnit.NANOSECONDS.toMillis(lateMaxNs));
    }
}
