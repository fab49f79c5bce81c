import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A consumer group member resuming where its group committed: subscribes
 * to a topic with the group, without any reset policy (a partition without
 * a committed offset is an error), reads read_committed until it reaches
 * the end offsets seen once it is assigned, commits, and prints what it read.
 *
 * Usage: GroupConsumer BOOTSTRAP TOPIC GROUP TIMEOUT_MS
 * stdout: "R PARTITION OFFSET VALUE" (value as UTF-8) per record, then END.
 * Exit status 3 on timeout.
 */
public final class GroupConsumer {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, args[2]);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long deadline = System.currentTimeMillis() + Long.parseLong(args[3]);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(Collections.singletonList(args[1]));
            Map<TopicPartition, Long> ends = null;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> got = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    String v = r.value() == null ? "" : new String(r.value(), java.nio.charset.StandardCharsets.UTF_8);
                    System.out.println("R " + r.partition() + " " + r.offset() + " " + v);
                }
                Set<TopicPartition> assigned = consumer.assignment();
                if (assigned.isEmpty()) {
                    continue;
                }
                if (ends == null) {
                    ends = new HashMap<>(consumer.endOffsets(assigned));
                }
                boolean done = true;
                for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
                    if (consumer.position(e.getKey()) < e.getValue()) {
                        done = false;
                    }
                }
                if (done) {
                    consumer.commitSync();
                    System.out.println("END");
                    return;
                }
            }
        }
        System.out.println("TIMEOUT");
        System.exit(3);
    }
}
