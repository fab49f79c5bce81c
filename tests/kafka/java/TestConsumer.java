import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads every partition of a topic from the beginning up to its end offset
 * (the last stable offset under read_committed) and prints each record, so a
 * test can compare what a real Kafka consumer sees with what it expects.
 *
 * Usage: TestConsumer BOOTSTRAP TOPIC read_committed|read_uncommitted EXPECTED TIMEOUT_MS
 *            [consumer.property=value ...]
 *
 * EXPECTED < 0: stop once the end offsets seen at start are reached.
 * EXPECTED >= 0: keep going (re-reading end offsets and the partition list,
 * waiting for the topic to appear) until at least that many records were read.
 *
 * stdout (byte fields as in Wire; timestamp type C, L or N):
 *   R PARTITION OFFSET TIMESTAMP TYPE KEY VALUE NHEADERS [HNAME HVALUE]...
 *   B NODE BYTES        (bytes received from each broker, bootstrap ones negative)
 *   END
 * Exit status 3 on timeout, after printing what was read.
 */
public final class TestConsumer {
    /** Records printed so far. */
    private static long count = 0;
    /** Why the consumer is not done yet, for the timeout message. */
    private static String lastState = "topic not found";

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: TestConsumer BOOTSTRAP TOPIC read_committed|read_uncommitted EXPECTED TIMEOUT_MS [key=value ...]");
            System.exit(2);
        }
        String topic = args[1];
        long expected = Long.parseLong(args[3]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[4]);

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, args[2]);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "kmirror-test-consumer");
        Wire.putProperties(props, args, 5, "consumer");

        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
        boolean timedOut = false;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> assigned = new ArrayList<>();
            while (true) {
                List<TopicPartition> now = partitions(consumer, topic);
                if (now.size() > assigned.size()) {
                    List<TopicPartition> added = new ArrayList<>(now);
                    added.removeAll(assigned);
                    consumer.assign(now);
                    consumer.seekToBeginning(added);
                    assigned = now;
                }
                if (!assigned.isEmpty()) {
                    // A topic that was just created (by a mirror, say) may
                    // lack leaders for a moment: retry until the deadline.
                    try {
                        if (readToEnd(consumer, assigned, out, deadline)) {
                            timedOut = true;
                            break;
                        }
                    } catch (RetriableException e) {
                        lastState = e.toString();
                    }
                    if (expected < 0 || count >= expected) {
                        break;
                    }
                    lastState = "read " + count + " of " + expected + " expected records";
                }
                if (System.currentTimeMillis() > deadline) {
                    timedOut = true;
                    break;
                }
                Thread.sleep(200);
            }
            printBytesByNode(consumer, out);
        }
        out.println("END");
        out.flush();
        if (timedOut) {
            System.err.println("TestConsumer: timed out on topic " + topic + ": " + lastState);
            System.exit(3);
        }
    }

    /** Reads up to the current end offsets; true when the deadline passed first. */
    private static boolean readToEnd(KafkaConsumer<byte[], byte[]> consumer, List<TopicPartition> assigned,
                                     PrintStream out, long deadline) {
        Map<TopicPartition, Long> end = consumer.endOffsets(assigned, Duration.ofSeconds(10));
        while (true) {
            Map<TopicPartition, Long> behind = new HashMap<>();
            for (TopicPartition tp : assigned) {
                long pos = consumer.position(tp, Duration.ofSeconds(10));
                if (pos < end.get(tp)) {
                    behind.put(tp, pos);
                }
            }
            if (behind.isEmpty()) {
                return false;
            }
            lastState = "positions " + behind + " behind end offsets " + end;
            if (System.currentTimeMillis() > deadline) {
                return true;
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                print(out, r);
                count++;
            }
        }
    }

    /** Lets a test tell which brokers served its fetches (KIP-392). */
    private static void printBytesByNode(KafkaConsumer<byte[], byte[]> consumer, PrintStream out) {
        for (Map.Entry<MetricName, ? extends Metric> e : consumer.metrics().entrySet()) {
            MetricName name = e.getKey();
            String node = name.tags().get("node-id");
            if (name.group().equals("consumer-node-metrics") && name.name().equals("incoming-byte-total")
                    && node != null && node.startsWith("node-")) {
                Object value = e.getValue().metricValue();
                if (value instanceof Number) {
                    out.println("B " + node.substring(5) + " " + ((Number) value).longValue());
                }
            }
        }
    }

    private static List<TopicPartition> partitions(KafkaConsumer<byte[], byte[]> consumer, String topic) {
        List<TopicPartition> tps = new ArrayList<>();
        List<PartitionInfo> infos;
        try {
            infos = consumer.partitionsFor(topic, Duration.ofSeconds(5));
        } catch (RetriableException e) {
            return tps;
        }
        if (infos != null) {
            for (PartitionInfo p : infos) {
                tps.add(new TopicPartition(topic, p.partition()));
            }
        }
        tps.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
        return tps;
    }

    private static void print(PrintStream out, ConsumerRecord<byte[], byte[]> r) {
        StringBuilder sb = new StringBuilder(64);
        sb.append("R ").append(r.partition()).append(' ').append(r.offset()).append(' ')
          .append(r.timestamp()).append(' ');
        switch (r.timestampType()) {
            case CREATE_TIME: sb.append('C'); break;
            case LOG_APPEND_TIME: sb.append('L'); break;
            default: sb.append('N'); break;
        }
        sb.append(' ').append(Wire.bytes(r.key())).append(' ').append(Wire.bytes(r.value()));
        Header[] hs = r.headers().toArray();
        sb.append(' ').append(hs.length);
        for (Header h : hs) {
            sb.append(' ').append(Wire.text(h.key())).append(' ').append(Wire.bytes(h.value()));
        }
        out.println(sb);
    }
}
