import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;

/**
 * Asks Kafka's own MirrorMaker 2 client library what a cluster's mirror
 * topics say, so tests check kmirror's internal topics the way operators'
 * tools read them.
 *
 * Usage: Mm2Client BOOTSTRAP translate SOURCE_ALIAS GROUP
 *        Mm2Client BOOTSTRAP hops SOURCE_ALIAS
 *
 * stdout: translate prints "T TOPIC PARTITION OFFSET" per partition;
 * hops prints "H HOPS"; both end with "END".
 */
public final class Mm2Client {
    public static void main(String[] args) throws Exception {
        Map<String, Object> props = new HashMap<>();
        props.put("bootstrap.servers", args[0]);
        switch (args[1]) {
            case "translate": {
                Map<TopicPartition, OffsetAndMetadata> got =
                    RemoteClusterUtils.translateOffsets(props, args[2], args[3], Duration.ofSeconds(30));
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : got.entrySet()) {
                    System.out.println("T " + e.getKey().topic() + " " + e.getKey().partition()
                        + " " + e.getValue().offset());
                }
                break;
            }
            case "hops":
                System.out.println("H " + RemoteClusterUtils.replicationHops(props, args[2]));
                break;
            default:
                throw new IllegalArgumentException("unknown command " + args[1]);
        }
        System.out.println("END");
    }
}
