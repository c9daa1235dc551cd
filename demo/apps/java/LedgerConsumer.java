// Copyright (c) kafkaops.migration contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * Demo consumer, the Java twin of demo/apps/consumer.py: processes the demo producers' messages and
 * keeps a ledger of what it processed.
 *
 * <p>Consumer group, read_committed unless the file says otherwise, no auto commit. After each poll:
 * append {@code <producer> <seq> <topic> <partition> <offset> <bootstrap> <epoch_ms>} per record, flush
 * and fsync the ledger, commitSync. SIGTERM: wakeup, the batch in hand is finished and committed, the
 * consumer closes (leaves its group), exit 0.
 *
 * <pre>
 * java -cp classes:libs/* LedgerConsumer --config client.properties [--format properties|yaml]
 *     --group billing --topic demo.orders [--topic ...] --ledger c1.ledger [--offset-reset latest|earliest|error]
 * </pre>
 */
public final class LedgerConsumer {
    static final String USAGE = "LedgerConsumer --config FILE [--format properties|yaml] --group G [--topic T] "
            + "[--topic T2 ...] --ledger FILE [--offset-reset latest|earliest|error]";
    static final String[] SHOWN = {"client.id", "isolation.level", "group.id", "auto.offset.reset", "enable.auto.commit"};

    private static volatile boolean stop;
    private static volatile int exitCode;
    private static volatile KafkaConsumer<byte[], byte[]> current;
    private static final CountDownLatch DONE = new CountDownLatch(1);

    private LedgerConsumer() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, List<String>> opts;
        try {
            opts = LedgerCommon.parseArgs(argv, List.of("--config", "--format", "--group", "--topic", "--ledger",
                    "--offset-reset"), USAGE);
            for (String required : new String[] {"--config", "--group", "--ledger"}) {
                LedgerCommon.opt(opts, required, null, USAGE);
            }
            String reset = LedgerCommon.opt(opts, "--offset-reset", "latest", USAGE);
            if (!List.of("latest", "earliest", "error").contains(reset)) {
                throw LedgerCommon.usage(USAGE, "--offset-reset: latest, earliest or error");
            }
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(64);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop = true;
            KafkaConsumer<byte[], byte[]> c = current;
            if (c != null) {
                c.wakeup();                       // out of poll(); the batch in hand is finished first
            }
            try {
                DONE.await();
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            System.out.flush();
            Runtime.getRuntime().halt(exitCode);  // 0 after a clean stop, not 143 for SIGTERM
        }, "ledger-consumer-stop"));
        try {
            exitCode = run(opts);
        } catch (Exception e) {
            System.err.println("consumer: " + e);
            exitCode = 1;
        } finally {
            DONE.countDown();
        }
        System.exit(exitCode);
    }

    static int run(Map<String, List<String>> opts) throws Exception {
        String group = LedgerCommon.opt(opts, "--group", null, USAGE);
        String ledgerPath = LedgerCommon.opt(opts, "--ledger", null, USAGE);
        String reset = LedgerCommon.opt(opts, "--offset-reset", "latest", USAGE);

        String config = LedgerCommon.opt(opts, "--config", null, USAGE);
        String format = LedgerCommon.opt(opts, "--format", "properties", USAGE);
        Properties props = LedgerCommon.readConfig(config, format, "consumer");
        // app.topic in the file wins over --topic (kafka_client_config's topic_keys rewrite it)
        List<String> topics = LedgerCommon.topicsOf(config, format, props, opts.get("--topic"));
        String servers = props.getProperty("bootstrap.servers");
        props.putIfAbsent("isolation.level", "read_committed");  // the file's values win over these defaults
        props.putIfAbsent("client.id", "demo-consumer");
        props.putIfAbsent("session.timeout.ms", "10000");
        props.put("group.id", group);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "error".equals(reset) ? "none" : reset);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());

        ObjectMapper json = new ObjectMapper();
        long processed = 0;
        boolean first = true;
        LedgerCommon.println(String.format("consumer: group %s on %s reading %s", group, servers,
                String.join(", ", topics)));
        LedgerCommon.println(LedgerCommon.settingsLine(props, SHOWN, Map.of()));
        try (FileOutputStream ledger = new FileOutputStream(ledgerPath, true);
             KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            current = consumer;
            if (stop) {
                return 0;
            }
            consumer.subscribe(topics);
            while (!stop) {
                ConsumerRecords<byte[], byte[]> batch;
                try {
                    batch = consumer.poll(Duration.ofMillis(500));
                } catch (WakeupException e) {
                    break;                        // nothing in hand: poll returned no batch
                }
                if (batch.isEmpty()) {
                    continue;
                }
                StringBuilder lines = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    String who = "-";
                    String seq = "-1";
                    try {
                        JsonNode payload = json.readTree(r.value());
                        if (payload != null && payload.hasNonNull("producer") && payload.hasNonNull("seq")) {
                            who = payload.get("producer").asText();
                            seq = payload.get("seq").asText();
                        }
                    } catch (Exception notJson) {
                        // "-1" / "-": not a demo producer's message
                    }
                    long now = System.currentTimeMillis();
                    lines.append(String.format("%s %s %s %d %d %s %d%n", who, seq, r.topic(), r.partition(),
                            r.offset(), servers, now));
                    if (first) {
                        LedgerCommon.println("FIRST-RECORD " + servers + " " + now);
                        first = false;
                    }
                }
                ledger.write(lines.toString().getBytes(StandardCharsets.UTF_8));
                ledger.flush();
                ledger.getChannel().force(true);
                commit(consumer);
                processed += batch.count();
            }
        }  // close(): leaves the group
        LedgerCommon.println(String.format("consumer: stopped after %d messages", processed));
        return 0;
    }

    /** commitSync of the batch just processed, even when a stop's wakeup lands in it. */
    private static void commit(KafkaConsumer<byte[], byte[]> consumer) {
        try {
            consumer.commitSync();
        } catch (WakeupException e) {
            consumer.commitSync();                // a wakeup is one-shot: this one completes
        }
    }
}
