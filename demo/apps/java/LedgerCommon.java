// Copyright (c) kafkaops.migration contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * What the Java demo applications share (the Python apps' common.py): the client configuration file,
 * the command line, the ledger, the settings line.
 *
 * <p>Configuration formats ({@code --format}):
 * <ul>
 * <li>{@code properties}: a java.util.Properties file, every key handed to the client;</li>
 * <li>{@code yaml}: a Spring Boot application.yml: {@code spring.kafka.bootstrap-servers} and every
 * key under {@code spring.kafka.properties} (and {@code spring.kafka.producer|consumer.properties}),
 * literal dotted keys, nested keys or the bracket form {@code "[sasl.jaas.config]"}, plus a few typed
 * Spring keys ({@code security.protocol}, {@code client-id}, {@code producer.acks},
 * {@code consumer.isolation-level}).</li>
 * </ul>
 * A file written for the Python apps (librdkafka's {@code sasl.username} / {@code sasl.password}, no
 * {@code sasl.jaas.config}) works too: the JAAS line is made from them.
 */
final class LedgerCommon {
    private LedgerCommon() {
    }

    static final PrintStream OUT = System.out;

    /** {@code --name value} options; repeatable ones keep every value. */
    static Map<String, List<String>> parseArgs(String[] argv, List<String> known, String usage) {
        Map<String, List<String>> opts = new LinkedHashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            String value;
            if (a.startsWith("--") && a.contains("=")) {
                value = a.substring(a.indexOf('=') + 1);
                a = a.substring(0, a.indexOf('='));
            } else if (i + 1 < argv.length) {
                value = argv[++i];
            } else {
                throw usage(usage, "option " + a + " needs a value");
            }
            if (!known.contains(a)) {
                throw usage(usage, "unknown option " + a);
            }
            opts.computeIfAbsent(a, k -> new ArrayList<>()).add(value);
        }
        return opts;
    }

    static IllegalArgumentException usage(String usage, String why) {
        return new IllegalArgumentException(why + "\nusage: " + usage);
    }

    static String opt(Map<String, List<String>> opts, String name, String dflt, String usage) {
        List<String> v = opts.get(name);
        if (v == null || v.isEmpty()) {
            if (dflt == null) {
                throw usage(usage, "missing " + name);
            }
            return dflt;
        }
        return v.get(v.size() - 1);
    }

    /** The client properties from the configuration file; {@code kind} is producer or consumer. */
    static Properties readConfig(String path, String format, String kind) throws IOException {
        Properties props = new Properties();
        if ("properties".equals(format)) {
            try (Reader r = Files.newBufferedReader(Path.of(path), StandardCharsets.UTF_8)) {
                props.load(r);
            }
            for (String k : props.stringPropertyNames()) {
                props.setProperty(k, props.getProperty(k).trim());
            }
        } else if ("yaml".equals(format)) {
            props.putAll(springKafka(path, kind));
        } else {
            throw new IllegalArgumentException("unknown --format " + format + " (properties or yaml)");
        }
        String servers = props.getProperty("bootstrap.servers", "").trim();
        if (servers.isEmpty()) {
            throw new IllegalArgumentException(path + ": no bootstrap.servers");
        }
        props.setProperty("bootstrap.servers", servers);
        librdkafkaSasl(props);
        return props;
    }

    /** The key of the configuration file that names the application's topic(s), comma-separated. */
    static final String TOPIC_KEY = "app.topic";

    /**
     * The topics: the file's {@code app.topic} (a properties key, or {@code app.topic} / {@code app: {topic:}} in
     * YAML) over {@code given} (the command line's). The key is removed from {@code props}: never a client setting.
     */
    static List<String> topicsOf(String path, String format, Properties props, List<String> given) throws IOException {
        String named = (String) props.remove(TOPIC_KEY);
        if (named == null && "yaml".equals(format)) {
            JsonNode doc = new YAMLMapper().readTree(new File(path));
            if (doc != null) {
                JsonNode node = doc.path("app").path("topic");
                if (node.isMissingNode() || node.isNull()) {
                    node = doc.path(TOPIC_KEY);
                }
                if (!node.isMissingNode() && !node.isNull()) {
                    named = node.asText();
                }
            }
        }
        List<String> topics = new ArrayList<>();
        if (named != null) {
            for (String t : named.split(",")) {
                if (!t.trim().isEmpty()) {
                    topics.add(t.trim());
                }
            }
        }
        if (topics.isEmpty() && given != null) {
            topics.addAll(given);
        }
        if (topics.isEmpty()) {
            throw new IllegalArgumentException("no topic: give --topic or app.topic in the configuration file");
        }
        return topics;
    }

    /** librdkafka's sasl.username / sasl.password (no sasl.jaas.config) -> the Java client's JAAS line. */
    static void librdkafkaSasl(Properties props) {
        String user = (String) props.remove("sasl.username");
        String password = (String) props.remove("sasl.password");
        if (user == null || props.containsKey("sasl.jaas.config")) {
            return;
        }
        String mechanism = props.getProperty("sasl.mechanism", "GSSAPI").toUpperCase();
        String module = mechanism.startsWith("SCRAM-") ? "org.apache.kafka.common.security.scram.ScramLoginModule"
                : "org.apache.kafka.common.security.plain.PlainLoginModule";
        props.setProperty("sasl.jaas.config", module + " required username=\"" + jaasEscape(user)
                + "\" password=\"" + jaasEscape(password == null ? "" : password) + "\";");
    }

    private static String jaasEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    static Map<String, String> springKafka(String path, String kind) throws IOException {
        JsonNode doc = new YAMLMapper().readTree(new File(path));
        Map<String, String> flat = new LinkedHashMap<>();
        if (doc != null) {
            flatten(doc, "", flat);
        }
        Map<String, String> out = new LinkedHashMap<>();
        String[][] typed = {
            {"spring.kafka.bootstrap-servers", "bootstrap.servers"},
            {"spring.kafka." + kind + ".bootstrap-servers", "bootstrap.servers"},
            {"spring.kafka.security.protocol", "security.protocol"},
            {"spring.kafka.client-id", "client.id"},
            {"spring.kafka." + kind + ".client-id", "client.id"},
            {"spring.kafka.producer.acks", "producer:acks"},
            {"spring.kafka.producer.compression-type", "producer:compression.type"},
            {"spring.kafka.consumer.isolation-level", "consumer:isolation.level"},
        };
        for (String[] t : typed) {
            String v = flat.get(t[0]);
            String key = t[1];
            if (key.contains(":")) {
                if (!key.startsWith(kind + ":")) {
                    continue;
                }
                key = key.substring(key.indexOf(':') + 1);
            }
            if (v != null) {
                out.put(key, "consumer:isolation.level".equals(t[1]) ? v.toLowerCase() : v);
            }
        }
        for (String prefix : new String[] {"spring.kafka.properties.", "spring.kafka." + kind + ".properties."}) {
            for (Map.Entry<String, String> e : flat.entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    out.put(e.getKey().substring(prefix.length()), e.getValue());
                }
            }
        }
        if (!out.containsKey("bootstrap.servers")) {
            throw new IllegalArgumentException(path + ": no spring.kafka.bootstrap-servers");
        }
        return out;
    }

    /** Nested mappings -> dotted keys (Spring's "[a.b]" bracket keys lose their brackets); lists -> a,b. */
    private static void flatten(JsonNode node, String prefix, Map<String, String> out) {
        if (node.isObject()) {
            Iterator<Map.Entry<String, JsonNode>> it = node.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                String key = e.getKey().trim();
                if (key.length() >= 2 && key.startsWith("[") && key.endsWith("]")) {
                    key = key.substring(1, key.length() - 1);
                }
                flatten(e.getValue(), prefix.isEmpty() ? key : prefix + "." + key, out);
            }
        } else if (node.isArray()) {
            List<String> items = new ArrayList<>();
            for (JsonNode item : node) {
                items.add(item.asText().trim());
            }
            out.put(prefix, String.join(",", items));
        } else if (!node.isNull()) {
            out.put(prefix, node.asText().trim());
        }
    }

    /** {@code settings: k=v ...}: the same line as the Python apps'. */
    static String settingsLine(Properties props, String[] keys, Map<String, String> clientDefaults) {
        StringBuilder sb = new StringBuilder("settings:");
        for (String k : keys) {
            String v = props.getProperty(k, clientDefaults.getOrDefault(k, "-"));
            sb.append(' ').append(k).append('=').append(v.trim());
        }
        return sb.toString();
    }

    /** The last sequence number of {@code id} in the ledger, or -1. */
    static long lastSeq(String ledger, String id) throws IOException {
        Path p = Path.of(ledger);
        long last = -1;
        if (!Files.exists(p)) {
            return last;
        }
        for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 2 && f[0].equals(id)) {
                try {
                    last = Math.max(last, Long.parseLong(f[1]));
                } catch (NumberFormatException ignored) {
                    // not one of ours
                }
            }
        }
        return last;
    }

    /** A JSON string as Python's json.dumps writes it (ensure_ascii). */
    static String jsonString(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                case '\b': sb.append("\\b"); break;
                case '\f': sb.append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"').toString();
    }

    static synchronized void println(String line) {
        OUT.println(line);
        OUT.flush();
    }
}
