// Generates protocol-fixtures/batches: produces a fixed set of records with the reference Java
// producer (kafka-clients 4.1.2), one topic per case, so that each codec topic's log holds exactly
// one record batch. Driven by crates/testkit/tests/gen_batch_fixtures.rs (see
// protocol-fixtures/PROVENANCE.md); run by hand as
//   java -cp '<libs>/*' GenBatchFixtures.java <bootstrap> <topic-prefix> [case...]
// (no case = all of none gzip snappy lz4 zstd idempotent transactional; topics must exist).
// Prints one JSON line per record sent: {"case":..,"topic":..,"timestamp":..,"key":hex|null,
// "value":hex|null,"headers":[[hex(name),hex|null],..]}.
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class GenBatchFixtures {
    static final long BASE_TS = 1700000000000L;

    static byte[] utf8(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }

    static String hex(byte[] b) {
        if (b == null) return "null";
        StringBuilder sb = new StringBuilder("\"");
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.append('"').toString();
    }

    /** The fixed record set: every case produces exactly these, in this order. */
    static List<ProducerRecord<byte[], byte[]>> records(String topic) {
        List<ProducerRecord<byte[], byte[]>> rs = new ArrayList<>();
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS, utf8("key-0"), utf8("value-0")));
        // Null key.
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS + 1, (byte[]) null, utf8("value with a null key")));
        // Null value (tombstone).
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS + 2, utf8("key-null-value"), (byte[]) null));
        // Empty key and empty value (not null).
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS + 3, new byte[0], new byte[0]));
        // Headers: plain, null value, empty value, a repeated name, a non-ASCII name.
        List<Header> hs = new ArrayList<>();
        hs.add(new RecordHeader("h1", utf8("v1")));
        hs.add(new RecordHeader("h-null", (byte[]) null));
        hs.add(new RecordHeader("h-empty", new byte[0]));
        hs.add(new RecordHeader("h1", utf8("v1-again")));
        hs.add(new RecordHeader("h\u00e9-\u6f22", new byte[] {0, (byte) 0xff}));
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS + 4, utf8("key-headers"), utf8("value-headers"), hs));
        // Binary key and value: every byte value.
        byte[] all = new byte[256];
        for (int i = 0; i < 256; i++) all[i] = (byte) i;
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS + 5, new byte[] {0, (byte) 0x80, (byte) 0xff}, all));
        // A compressible 3000-byte value, and a timestamp earlier than the first record's.
        rs.add(new ProducerRecord<>(topic, 0, BASE_TS - 1000, utf8("key-big"), utf8("abc".repeat(1000))));
        return rs;
    }

    static void produce(String kase, String topic, Properties extra, String bootstrap, boolean txn) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("acks", "all");
        // Everything in one batch: linger far longer than the run, one flush at the end.
        p.put("linger.ms", "600000");
        p.put("batch.size", "1048576");
        p.put("enable.idempotence", "false");
        p.put("client.id", "purekafka-fixtures-" + kase);
        p.putAll(extra);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (txn) {
                producer.initTransactions();
                producer.beginTransaction();
            }
            List<ProducerRecord<byte[], byte[]>> rs = records(topic);
            for (ProducerRecord<byte[], byte[]> r : rs) producer.send(r);
            if (txn) producer.commitTransaction(); else producer.flush();
            for (ProducerRecord<byte[], byte[]> r : rs) {
                StringBuilder sb = new StringBuilder();
                sb.append("{\"case\":\"").append(kase).append("\",\"topic\":\"").append(topic)
                  .append("\",\"timestamp\":").append(r.timestamp())
                  .append(",\"key\":").append(hex(r.key()))
                  .append(",\"value\":").append(hex(r.value()))
                  .append(",\"headers\":[");
                boolean first = true;
                for (Header h : r.headers()) {
                    if (!first) sb.append(',');
                    first = false;
                    sb.append('[').append(hex(utf8(h.key()))).append(',').append(hex(h.value())).append(']');
                }
                System.out.println(sb.append("]}"));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], prefix = args[1];
        java.util.Set<String> only = new java.util.HashSet<>(java.util.Arrays.asList(args).subList(2, args.length));
        for (String codec : new String[] {"none", "gzip", "snappy", "lz4", "zstd"}) {
            if (!only.isEmpty() && !only.contains(codec)) continue;
            Properties p = new Properties();
            p.put("compression.type", codec);
            produce(codec, prefix + codec, p, bootstrap, false);
        }
        if (only.isEmpty() || only.contains("idempotent")) {
            Properties idem = new Properties();
            idem.put("enable.idempotence", "true");
            idem.put("max.in.flight.requests.per.connection", "5");
            produce("idempotent", prefix + "idempotent", idem, bootstrap, false);
        }
        if (only.isEmpty() || only.contains("transactional")) {
            Properties txn = new Properties();
            txn.put("enable.idempotence", "true");
            txn.put("transactional.id", "purekafka-fixtures");
            txn.put("compression.type", "lz4");
            produce("transactional", prefix + "transactional", txn, bootstrap, true);
        }
    }
}
