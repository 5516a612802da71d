// The Java producer with 16-byte keys, for the comparison runner's keyed cells:
// kafka-producer-perf-test (ProducerPerformance) has no key option. Same workload as
// purekafka-perf: 4093 distinct keys "key-%012d" of i * 0x9E3779B9 cut to 16 bytes, message
// n using key n % 4093, and the value from `purekafka-perf payload` (a file, one line). Prints ProducerPerformance's summary
// line (latency from send() to the callback, whole ms) so the runner parses both alike.
//
// Usage: java -cp <kafka jars> KeyedProducerPerf.java <bootstrap> <topic> <count> <payload file> [k=v ...]
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class KeyedProducerPerf {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        long count = Long.parseLong(args[2]);
        byte[] val = Files.readAllBytes(Path.of(args[3]));
        int size = val.length;
        if (size > 0 && val[size - 1] == '\n') {
            val = Arrays.copyOf(val, --size);
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        for (int a = 4; a < args.length; a++) {
            int eq = args[a].indexOf('=');
            p.put(args[a].substring(0, eq), args[a].substring(eq + 1));
        }
        byte[][] keys = new byte[4093][];
        for (int k = 0; k < keys.length; k++) {
            keys[k] = String.format("key-%012d", k * 0x9E3779B9L).substring(0, 16).getBytes();
        }
        int[] lat = new int[(int) count];
        long[] maxLat = new long[1];
        long[] sumLat = new long[1];
        long t0 = System.currentTimeMillis();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (long n = 0; n < count; n++) {
                final int idx = (int) n;
                final long sent = System.currentTimeMillis();
                producer.send(new ProducerRecord<>(topic, keys[(int) (n % keys.length)], val), (md, e) -> {
                    if (e != null) {
                        System.err.println("send failed: " + e);
                        System.exit(1);
                    }
                    int l = (int) (System.currentTimeMillis() - sent);
                    lat[idx] = l;
                    sumLat[0] += l;
                    if (l > maxLat[0]) maxLat[0] = l;
                });
            }
            producer.flush();
        }
        long elapsed = Math.max(1, System.currentTimeMillis() - t0);
        double rps = count * 1000.0 / elapsed;
        Arrays.sort(lat);
        System.out.printf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n",
            count, rps, rps * size / (1024.0 * 1024.0), (double) sumLat[0] / count, (double) maxLat[0],
            lat[(int) (count * 0.5)], lat[(int) (count * 0.95)], lat[(int) (count * 0.99)], lat[(int) (count * 0.999)]);
    }
}
