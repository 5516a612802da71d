// Reference transactions for the testkit's own tests (crates/testkit/tests/broker.rs): the Java
// producer (kafka-clients 4.1.2) runs three transactions with one transactional id on partition 0
// of <topic>, so the Rust-side probes (committed group offsets, describe-producers, find-hanging,
// DescribeTransactions) can be checked against known broker state:
//   1. record "committed", offsets {<src>-0: 5} for <group>, commit;
//   2. record "aborted",   offsets {<src>-0: 9} for <group>, abort;
//   3. record "open", flushed, then the JVM halts without ending the transaction, so it stays
//      open on the broker until transaction.timeout.ms (<timeoutMs>) makes the coordinator
//      abort it.
// Run with the source launcher (java -cp '<libs>/*' TxnProbe.java <bootstrap> <topic> <src>
// <group> <transactionalId> <timeoutMs>); topics must exist. Prints "DONE <n>" after step 3,
// where n is the number of records written.
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnProbe {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], src = args[2], group = args[3], txnId = args[4];
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", txnId);
        p.put("transaction.timeout.ms", args[5]);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("client.id", "purekafka-txnprobe");
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        ConsumerGroupMetadata cgm = new ConsumerGroupMetadata(group);
        TopicPartition srcTp = new TopicPartition(src, 0);

        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "committed"));
        producer.sendOffsetsToTransaction(Map.of(srcTp, new OffsetAndMetadata(5)), cgm);
        producer.commitTransaction();

        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "aborted"));
        producer.sendOffsetsToTransaction(Map.of(srcTp, new OffsetAndMetadata(9)), cgm);
        producer.flush();
        producer.abortTransaction();

        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, 0, "k", "open")).get();
        System.out.println("DONE 3");
        System.out.flush();
        // No close(): a graceful close would abort the open transaction.
        Runtime.getRuntime().halt(0);
    }
}
