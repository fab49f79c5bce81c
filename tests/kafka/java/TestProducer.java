import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces records described exactly by the test (partition, timestamp, null or
 * empty key and value, headers) and optionally groups them into transactions
 * that are committed or aborted on request.
 *
 * Usage: TestProducer BOOTSTRAP TOPIC [producer.property=value ...]
 *
 * stdin, one command per line (byte fields as in Wire):
 *   R PARTITION|* TIMESTAMP|* KEY VALUE NHEADERS [HNAME HVALUE]...
 *   BEGIN | COMMIT | ABORT | FLUSH
 * Transactions need transactional.id among the properties.
 *
 * stdout, once everything is acknowledged, one line per R in input order:
 *   OK PARTITION OFFSET
 * Records of aborted transactions are flushed before the abort, so they are
 * physically in the log and have offsets too.
 */
public final class TestProducer {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: TestProducer BOOTSTRAP TOPIC [key=value ...]");
            System.exit(2);
        }
        String topic = args[1];
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        Wire.putProperties(props, args, 2, "producer");
        boolean transactional = props.containsKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG);

        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (transactional) {
                producer.initTransactions();
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split(" ", -1);
                switch (f[0]) {
                    case "R":
                        sent.add(producer.send(parseRecord(topic, f, lineNo)));
                        break;
                    case "BEGIN":
                        producer.beginTransaction();
                        break;
                    case "COMMIT":
                        producer.commitTransaction();
                        break;
                    case "ABORT":
                        // Without the flush the batches might never reach the
                        // broker, and tests want aborted records in the log.
                        producer.flush();
                        producer.abortTransaction();
                        break;
                    case "FLUSH":
                        producer.flush();
                        break;
                    default:
                        throw new IllegalArgumentException("line " + lineNo + ": unknown command " + f[0]);
                }
            }
            producer.flush();
        }

        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        for (Future<RecordMetadata> f : sent) {
            RecordMetadata md = f.get();
            out.println("OK " + md.partition() + " " + md.offset());
        }
        out.flush();
    }

    /** Parses an R line (also read by StreamProducer). */
    static ProducerRecord<byte[], byte[]> parseRecord(String topic, String[] f, int lineNo) {
        if (f.length < 6) {
            throw new IllegalArgumentException("line " + lineNo + ": R needs at least 6 fields");
        }
        Integer partition = f[1].equals("*") ? null : Integer.valueOf(f[1]);
        Long timestamp = f[2].equals("*") ? null : Long.valueOf(f[2]);
        byte[] key = Wire.parseBytes(f[3]);
        byte[] value = Wire.parseBytes(f[4]);
        int n = Integer.parseInt(f[5]);
        if (f.length != 6 + 2 * n) {
            throw new IllegalArgumentException("line " + lineNo + ": expected " + n + " headers");
        }
        RecordHeaders headers = new RecordHeaders();
        for (int i = 0; i < n; i++) {
            String name = Wire.parseText(f[6 + 2 * i]);
            if (name == null) {
                throw new IllegalArgumentException("line " + lineNo + ": header name is null");
            }
            headers.add(name, Wire.parseBytes(f[7 + 2 * i]));
        }
        return new ProducerRecord<>(topic, partition, timestamp, key, value, headers);
    }
}
