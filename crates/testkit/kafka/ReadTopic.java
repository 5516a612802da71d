// Independent reader for purekafka tests: reads a topic with the reference Java consumer
// (kafka-clients, no consumer group) and prints one JSON object per record on stdout.
// Bytes are printed as lowercase hex and null as JSON null, so null vs empty and binary data
// survive. Header keys are printed as the hex of their UTF-8 bytes.
//
// Usage: ReadTopic <bootstrap> <topic> <read_committed|read_uncommitted> <count|-1> <timeoutMs>
//   count = -1: read from the beginning up to the end offsets seen at start (for read_committed
//               the last stable offset), then exit 0.
//   count >= 0: read until that many records arrived (waiting for new ones), then exit 0.
// On timeout it prints what it has, a line "TIMEOUT <n>" on stderr, and exits 3.
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadTopic {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    static String hex(byte[] b) {
        if (b == null) return "null";
        StringBuilder sb = new StringBuilder(b.length * 2 + 2).append('"');
        for (byte x : b) sb.append(HEX[(x >> 4) & 15]).append(HEX[x & 15]);
        return sb.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], isolation = args[2];
        long want = Long.parseLong(args[3]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[4]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("isolation.level", isolation);
        p.put("auto.offset.reset", "earliest");
        p.put("client.id", "purekafka-readtopic");
        StringBuilder out = new StringBuilder();
        long n = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<PartitionInfo> infos = List.of();
            while (infos.isEmpty() && System.currentTimeMillis() < deadline) {
                infos = c.partitionsFor(topic, Duration.ofMillis(Math.max(1, deadline - System.currentTimeMillis())));
                if (infos == null) infos = List.of();
            }
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo i : infos) tps.add(new TopicPartition(topic, i.partition()));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            while (true) {
                if (want >= 0 && n >= want) break;
                if (want < 0 && !tps.isEmpty()) {
                    boolean done = true;
                    for (TopicPartition tp : tps) if (c.position(tp) < end.get(tp)) { done = false; break; }
                    if (done) break;
                }
                long left = deadline - System.currentTimeMillis();
                if (left <= 0 || tps.isEmpty()) {
                    System.out.print(out);
                    System.out.flush();
                    System.err.println("TIMEOUT " + n);
                    System.exit(3);
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(Math.min(left, 200)))) {
                    out.append("{\"partition\":").append(r.partition())
                       .append(",\"offset\":").append(r.offset())
                       .append(",\"timestamp_type\":\"").append(r.timestampType().name).append('"')
                       .append(",\"timestamp\":").append(r.timestamp())
                       .append(",\"leader_epoch\":").append(r.leaderEpoch().map(String::valueOf).orElse("null"))
                       .append(",\"key\":").append(hex(r.key()))
                       .append(",\"value\":").append(hex(r.value()))
                       .append(",\"headers\":[");
                    boolean first = true;
                    for (Header h : r.headers()) {
                        if (!first) out.append(',');
                        first = false;
                        out.append('[').append(hex(h.key().getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                           .append(',').append(hex(h.value())).append(']');
                    }
                    out.append("]}\n");
                    n++;
                    if (want >= 0 && n >= want) break;
                }
            }
        }
        System.out.print(out);
        System.out.flush();
    }
}
