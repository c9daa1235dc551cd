// Copyright (c) kafkaops.migration contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Demo producer, the Java twin of demo/apps/producer.py: numbered, keyed messages and a ledger of
 * every message Kafka acknowledged.
 *
 * <p>Key {@code <id>-<seq mod keys>}, value {@code {"producer": "<id>", "seq": <seq>}} (the bytes of
 * Python's json.dumps), header {@code producer=<id>}; idempotent, acks=all, linger.ms=5 unless the file
 * says otherwise. Each acknowledgement appends {@code <id> <seq> <topic> <partition> <offset>
 * <bootstrap> <epoch_ms>} to the ledger; a restart goes on numbering after the ledger's last seq for
 * its id. SIGTERM: stop sending, flush, close, exit 0. No acknowledgement within
 * {@code --first-ack-timeout} seconds (default 30, 0: wait forever): exit 2 with the last client error.
 *
 * <pre>
 * java -cp classes:libs/* LedgerProducer --config client.properties [--format properties|yaml]
 *     --topic demo.orders --id p1 --ledger p1.ledger [--rate 50] [--count 0] [--keys 16]
 * </pre>
 */
public final class LedgerProducer {
    static final String USAGE = "LedgerProducer --config FILE [--format properties|yaml] [--topic T] --id ID "
            + "--ledger FILE [--rate 50] [--count 0] [--keys 16] [--first-ack-timeout 30]";
    static final String[] SHOWN = {"acks", "client.id", "linger.ms", "enable.idempotence", "compression.type"};

    private static volatile boolean stop;
    private static volatile int exitCode;
    private static volatile String lastError = "none";
    private static final AtomicLong ACKED = new AtomicLong();
    private static final AtomicLong FAILED = new AtomicLong();
    private static final CountDownLatch DONE = new CountDownLatch(1);

    private LedgerProducer() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, List<String>> opts;
        try {
            opts = LedgerCommon.parseArgs(argv, List.of("--config", "--format", "--topic", "--id", "--ledger",
                    "--rate", "--count", "--keys", "--first-ack-timeout"), USAGE);
            LedgerCommon.opt(opts, "--config", null, USAGE);
            LedgerCommon.opt(opts, "--id", null, USAGE);
            LedgerCommon.opt(opts, "--ledger", null, USAGE);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(64);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop = true;                      // SIGTERM / System.exit: stop sending, flush, close
            try {
                DONE.await();
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            System.out.flush();
            Runtime.getRuntime().halt(exitCode);  // the code main settled on, not 143 for SIGTERM
        }, "ledger-producer-stop"));
        try {
            exitCode = run(opts);
        } catch (Exception e) {
            System.err.println("producer: " + e);
            exitCode = 1;
        } finally {
            DONE.countDown();
        }
        System.exit(exitCode);
    }

    static int run(Map<String, List<String>> opts) throws Exception {
        String id = LedgerCommon.opt(opts, "--id", null, USAGE);
        String ledgerPath = LedgerCommon.opt(opts, "--ledger", null, USAGE);
        double rate = Double.parseDouble(LedgerCommon.opt(opts, "--rate", "50", USAGE));
        long count = Long.parseLong(LedgerCommon.opt(opts, "--count", "0", USAGE));
        int keys = Integer.parseInt(LedgerCommon.opt(opts, "--keys", "16", USAGE));
        double firstAckTimeout = Double.parseDouble(LedgerCommon.opt(opts, "--first-ack-timeout", "30", USAGE));

        String config = LedgerCommon.opt(opts, "--config", null, USAGE);
        String format = LedgerCommon.opt(opts, "--format", "properties", USAGE);
        Properties props = LedgerCommon.readConfig(config, format, "producer");
        // app.topic in the file wins over --topic (kafka_client_config's topic_keys rewrite it)
        List<String> topics = LedgerCommon.topicsOf(config, format, props, opts.get("--topic"));
        if (topics.size() != 1) {
            throw new IllegalArgumentException("the producer writes to one topic, got " + topics);
        }
        String topic = topics.get(0);
        String servers = props.getProperty("bootstrap.servers");
        props.putIfAbsent("enable.idempotence", "true");  // the file's values win over these defaults
        props.putIfAbsent("acks", "all");
        props.putIfAbsent("linger.ms", "5");
        props.putIfAbsent("client.id", "demo-producer-" + id);
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());

        long seq = LedgerCommon.lastSeq(ledgerPath, id) + 1;
        LedgerCommon.println(String.format("producer %s: writing to %s on %s from seq %d", id, topic, servers, seq));
        LedgerCommon.println(LedgerCommon.settingsLine(props, SHOWN, Map.of("compression.type", "none")));

        long sent = 0;
        Thread watchdog = null;
        try (FileOutputStream ledger = new FileOutputStream(ledgerPath, true);
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (firstAckTimeout > 0) {
                watchdog = new Thread(() -> watch(id, firstAckTimeout), "ledger-producer-first-ack");
                watchdog.setDaemon(true);
                watchdog.start();
            }
            long interval = rate > 0 ? (long) (1e9 / rate) : 0;
            long nextAt = System.nanoTime();
            byte[] header = id.getBytes(StandardCharsets.UTF_8);
            while (!stop && (count <= 0 || seq < count)) {
                final long n = seq;
                byte[] key = (id + "-" + (n % keys)).getBytes(StandardCharsets.UTF_8);
                byte[] value = ("{\"producer\": " + LedgerCommon.jsonString(id) + ", \"seq\": " + n + "}")
                        .getBytes(StandardCharsets.UTF_8);
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, null, key, value);
                record.headers().add("producer", header);
                try {
                    producer.send(record, (md, err) -> onAck(ledger, id, n, servers, md, err));
                } catch (RuntimeException e) {   // refused at once (buffer full, no metadata): not numbered,
                    if (!e.toString().equals(lastError)) {  // the same seq is tried again (Python's BufferError)
                        System.err.println("producer " + id + ": send: " + e);
                    }
                    lastError = e.toString();
                    Thread.sleep(100);
                    nextAt = System.nanoTime();
                    continue;
                }
                seq++;
                sent++;
                nextAt += interval;
                long pause = nextAt - System.nanoTime();
                if (pause > 0) {
                    Thread.sleep(pause / 1_000_000, (int) (pause % 1_000_000));
                }
            }
            producer.close(Duration.ofSeconds(60));  // flushes what is in flight
        }
        long left = sent - ACKED.get() - FAILED.get();
        LedgerCommon.println(String.format("producer %s: stopped at seq %d, %d unacknowledged, %d failed",
                id, seq, Math.max(left, 0), FAILED.get()));
        return left > 0 || FAILED.get() > 0 ? 1 : 0;
    }

    private static synchronized void onAck(FileOutputStream ledger, String id, long seq, String servers,
                                           RecordMetadata md, Exception err) {
        if (err != null) {
            if (!err.toString().equals(lastError)) {
                System.err.println("producer " + id + ": seq " + seq + " failed: " + err);
            }
            lastError = err.toString();
            FAILED.incrementAndGet();
            return;
        }
        long now = System.currentTimeMillis();
        String line = String.format("%s %d %s %d %d %s %d%n", id, seq, md.topic(), md.partition(), md.offset(),
                servers, now);
        try {
            ledger.write(line.getBytes(StandardCharsets.UTF_8));  // one write per line, like Python's line buffering
        } catch (IOException e) {
            lastError = "ledger: " + e;
            FAILED.incrementAndGet();
            return;
        }
        if (ACKED.getAndIncrement() == 0) {
            LedgerCommon.println("FIRST-ACK " + servers + " " + now);
        }
    }

    /** No acknowledgement within the timeout: say why, and exit 2 (nothing acknowledged, nothing to keep). */
    private static void watch(String id, double timeout) {
        long deadline = System.nanoTime() + (long) (timeout * 1e9);
        while (ACKED.get() == 0 && !stop) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                LedgerCommon.println(String.format("producer %s: no acknowledgement within %ss; last client error: %s",
                        id, fmt(timeout), lastError));
                exitCode = 2;
                Runtime.getRuntime().halt(2);
            }
            try {
                Thread.sleep(Math.min(200, Math.max(1, left / 1_000_000)));
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }
}
