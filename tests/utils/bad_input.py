"""Bad input and what the user sees: one table for the tests and for the docs.

Each row is an input a user can plausibly get wrong, the module or role it goes to, and a piece of the
message the task fails with (or, for the few inputs that only warn, the warning). The table is run
against the real clusters by ``tests/integration/test_bad_input_kafka.py``, which also proves that
nothing changed on either cluster or on disk, and it is published as ``docs/bad-input.md``::

    python tests/utils/bad_input.py > docs/bad-input.md

(``tests/unit/test_bad_input_doc.py`` fails when the published table and this one differ.)

Placeholders in ``args`` and ``sees``: ``{topic}`` an existing source topic, ``{group}`` a group with
committed offsets on the source, ``{tmp}`` a scratch folder, ``{tag}`` the run's unique tag. Option
values ``"@source"`` / ``"@target"`` are replaced by the real clusters' connection options, and
``"@source+{...}"`` / ``"@target+{...}"`` by those options with the given changes.
"""

import json
import sys
from dataclasses import dataclass, field

# Connection failures use a short request_timeout so that the table stays quick; each row says so.
RT = 4


@dataclass
class Case:
    id: str
    where: str            # module or role name
    input: str            # what the user gave, in words
    args: dict            # module options, or role variables
    sees: str             # a piece of the message (after placeholders are filled)
    kind: str = "fail"    # fail | warn
    files: dict = field(default_factory=dict)  # files to write first: relative path -> text


SRC, TGT = "@source", "@target"


def _with(base, **changes):
    return "%s+%s" % (base, json.dumps(changes))


MODULE_CASES = [
    # -- connection: protocol, mechanism, credentials, reachability (every module shares this layer)
    Case("plaintext-to-sasl", "kafka_topic_sync",
         "target given without security_protocol (PLAINTEXT) while its listener is SASL_PLAINTEXT",
         {"source": SRC, "target": _with(TGT, security_protocol="PLAINTEXT", request_timeout=RT), "include": ["{topic}"]},
         "the listener probably expects SASL authentication, but security_protocol is PLAINTEXT"),
    Case("sasl-to-plaintext", "kafka_spec_facts",
         "source given security_protocol SASL_PLAINTEXT while its listener is PLAINTEXT",
         {"source": _with(SRC, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                          sasl_username="u", sasl_password="p", request_timeout=RT), "sample_window": 0},
         "the listener does not take SASL, but security_protocol is SASL_PLAINTEXT"),
    Case("ssl-to-plaintext", "kafka_lag_wait",
         "cluster given security_protocol SSL while its listener is PLAINTEXT",
         {"cluster": _with(SRC, security_protocol="SSL", request_timeout=RT), "groups": ["{group}"], "timeout": 20},
         "the listener does not speak TLS, but security_protocol is SSL"),
    Case("wrong-mechanism", "kafka_group_sync",
         "target sasl_mechanism SCRAM-SHA-256 while the listener takes SCRAM-SHA-512",
         {"source": SRC, "target": _with(TGT, sasl_mechanism="SCRAM-SHA-256", request_timeout=RT),
          "groups": [{"name": "{group}"}]},
         "does not take sasl_mechanism SCRAM-SHA-256"),
    Case("wrong-password", "kafka_mirror",
         "target sasl_password wrong",
         {"source": SRC, "target": _with(TGT, sasl_password="not-the-password", request_timeout=RT),
          "topics": ["{topic}"], "name": "bad-{tag}"},
         "SASL authentication error: Authentication failed during authentication due to invalid credentials"),
    Case("unreachable", "kafka_topic_sync",
         "source bootstrap_servers pointing at a port nobody listens on",
         {"source": {"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": RT}, "target": TGT, "include": ["{topic}"],
          "timeout": 8},
         "source cluster (127.0.0.1:1): describe cluster failed"),
    Case("same-cluster", "kafka_topic_sync",
         "source and target are the same cluster",
         {"source": SRC, "target": SRC, "include": ["{topic}"]},
         "nothing was read or written: the source and the target are the same cluster"),
    Case("bad-port", "kafka_spec_facts",
         "a bootstrap server without a port",
         {"source": _with(SRC, bootstrap_servers=["127.0.0.1"]), "sample_window": 0},
         "source: bootstrap server '127.0.0.1' is not host:port"),
    # -- kafka_topic_sync
    Case("topics-bad-regex", "kafka_topic_sync", "include holding an invalid regular expression",
         {"source": SRC, "target": TGT, "include": ["orders["]}, "is not a valid regular expression"),
    Case("topics-include-empty", "kafka_topic_sync", "include: [] (an empty list)",
         {"source": SRC, "target": TGT, "include": []}, "include is empty, so no topic would be copied"),
    Case("topics-no-match", "kafka_topic_sync", "include matching no source topic (a typo)",
         {"source": SRC, "target": TGT, "include": ["{tag}-typo"]},
         "include pattern(s) matching no source topic (a typo, or the topics are gone): '{tag}-typo'",
         kind="warn"),
    Case("topics-bad-rf", "kafka_topic_sync", "replication_factor: three",
         {"source": SRC, "target": TGT, "include": ["{topic}"], "replication_factor": "three"},
         "replication_factor must be keep, auto or a positive integer, got 'three'"),
    Case("topics-rf-too-big", "kafka_topic_sync", "replication_factor larger than the target's broker count",
         {"source": SRC, "target": TGT, "include": ["{topic}"], "replication_factor": 5},
         "nothing was changed on the target: {topic}: replication factor 5 (replication_factor=5) exceeds the 2 brokers"),
    Case("topics-bad-prefix", "kafka_topic_sync", "target_prefix with a character topic names cannot hold",
         {"source": SRC, "target": TGT, "include": ["{topic}"], "target_prefix": "new/"},
         "target_prefix: 'new/' would make illegal Kafka topic names"),
    Case("topics-batch-zero", "kafka_topic_sync", "batch_size: 0",
         {"source": SRC, "target": TGT, "include": ["{topic}"], "batch_size": 0}, "batch_size must be a positive integer, got 0"),
    Case("topics-bad-override", "kafka_topic_sync", "config_overrides with a value the broker refuses",
         {"source": SRC, "target": TGT, "include": ["{topic}"], "config_overrides": {"retention.ms": "forever"}},
         "{topic}: INVALID_CONFIG: Invalid value forever for configuration retention.ms"),
    # -- kafka_group_sync
    Case("groups-both", "kafka_group_sync", "groups and group_pattern both given",
         {"source": SRC, "target": TGT, "groups": [{"name": "{group}"}], "group_pattern": ".*"},
         "parameters are mutually exclusive: groups|group_pattern"),
    Case("groups-timestamp-missing", "kafka_group_sync", "policy timestamp without a timestamp",
         {"source": SRC, "target": TGT, "groups": [{"name": "{group}"}], "policy": "timestamp"},
         "group '{group}': policy timestamp needs a timestamp"),
    Case("groups-timestamp-bad", "kafka_group_sync", "timestamp: yesterday",
         {"source": SRC, "target": TGT, "groups": [{"name": "{group}"}], "policy": "timestamp", "timestamp": "yesterday"},
         "timestamp 'yesterday' is neither milliseconds since the epoch nor an ISO 8601 date-time"),
    Case("groups-translate-no-map", "kafka_group_sync", "policy translate without offset_map_topic or offset_map_file",
         {"source": SRC, "target": TGT, "groups": [{"name": "{group}"}], "policy": "translate"},
         "offset map topic 'kafkaops.mirror.offsets' not found on the target cluster"),
    Case("groups-no-name", "kafka_group_sync", "a groups entry without a name",
         {"source": SRC, "target": TGT, "groups": [{"policy": "latest"}]},
         "missing required arguments: name found in groups"),
    Case("groups-bad-pattern", "kafka_group_sync", "group_pattern holding an invalid regular expression",
         {"source": SRC, "target": TGT, "group_pattern": "app("},
         "group_pattern 'app(' is not a regular expression"),
    Case("groups-no-match", "kafka_group_sync", "group_pattern matching no source group",
         {"source": SRC, "target": TGT, "group_pattern": "{tag}-nogroup"},
         "no source group matches group_pattern '{tag}-nogroup'", kind="warn"),
    Case("groups-bad-policy", "kafka_group_sync", "policy: newest (not a choice)",
         {"source": SRC, "target": TGT, "groups": [{"name": "{group}"}], "policy": "newest"},
         "value of policy must be one of: earliest, latest, translate, timestamp, got: newest"),
    # -- kafka_mirror
    Case("mirror-no-match", "kafka_mirror", "include matching no source topic",
         {"source": SRC, "target": TGT, "include": ["{tag}-typo"], "name": "bad-{tag}"},
         "no topic on the source cluster"),
    Case("mirror-nothing", "kafka_mirror", "neither topics nor include",
         {"source": SRC, "target": TGT, "name": "bad-{tag}"},
         "give topics and/or include (alias topic_patterns): nothing is selected"),
    Case("mirror-bad-mode", "kafka_mirror", "mode: forever (not a choice)",
         {"source": SRC, "target": TGT, "topics": ["{topic}"], "mode": "forever"},
         "value of mode must be one of: snapshot, until_lag, follow, got: forever"),
    Case("mirror-negative-lag", "kafka_mirror", "max_lag: -1",
         {"source": SRC, "target": TGT, "topics": ["{topic}"], "mode": "until_lag", "max_lag": -1,
          "name": "bad-{tag}"}, "max_lag must be zero or positive"),
    Case("mirror-batch-zero", "kafka_mirror", "batch_records: 0",
         {"source": SRC, "target": TGT, "topics": ["{topic}"], "batch_records": 0, "name": "bad-{tag}"},
         "batch_records must be positive"),
    Case("mirror-same", "kafka_mirror", "source and target are the same cluster",
         {"source": SRC, "target": SRC, "topics": ["{topic}"], "name": "bad-{tag}"},
         "nothing was read or written: the source and the target are the same cluster"),
    Case("mirror-missing-topic", "kafka_mirror", "topics naming a topic the source does not have",
         {"source": SRC, "target": TGT, "topics": ["{tag}-absent"], "name": "bad-{tag}"},
         "topics not found on the source cluster"),
    # -- kafka_lag_wait
    Case("lag-unknown-group", "kafka_lag_wait", "a group the cluster does not know",
         {"cluster": SRC, "groups": ["{tag}-nogroup"], "timeout": 20},
         "unknown consumer group(s): {tag}-nogroup (no members and no committed offsets)"),
    Case("lag-no-groups", "kafka_lag_wait", "until drained with no groups",
         {"cluster": SRC, "groups": [], "timeout": 20}, "until=drained needs at least one group in groups"),
    Case("lag-negative", "kafka_lag_wait", "max_lag: -5",
         {"cluster": SRC, "groups": ["{group}"], "max_lag": -5, "timeout": 20}, "max_lag must be 0 or more, got -5"),
    Case("lag-written-no-topics", "kafka_lag_wait", "until written without topics",
         {"cluster": SRC, "until": "written", "timeout": 20},
         "until=written needs the topics to watch in topics (exact names) or include (patterns)"),
    Case("lag-old-options", "kafka_lag_wait", "source and target instead of cluster (the module watches one cluster)",
         {"source": SRC, "target": TGT, "groups": ["{group}"]}, "missing required arguments: cluster"),
    # -- kafka_spec_facts
    Case("spec-no-match", "kafka_spec_facts", "include matching no source topic",
         {"source": SRC, "include": ["{tag}-typo"], "sample_window": 0},
         "include ['{tag}-typo'] (exclude []) selects no topic"),
    Case("spec-some-no-match", "kafka_spec_facts", "include where one pattern matches and one does not",
         {"source": SRC, "include": ["{topic}", "{tag}-typo"], "sample_window": 0, "groups": False},
         "include pattern '{tag}-typo' matches no topic", kind="warn"),
    Case("spec-interval", "kafka_spec_facts", "sample_interval 5 with sample_window 2",
         {"source": SRC, "sample_window": 2, "sample_interval": 5}, "sample_interval (5.0 s) is longer than sample_window"),
    Case("spec-headroom", "kafka_spec_facts", "headroom: 0.5",
         {"source": SRC, "headroom": 0.5, "sample_window": 0}, "headroom must be 1.0 or more"),
    Case("spec-window-timeout", "kafka_spec_facts", "sample_window 50 with timeout 30",
         {"source": SRC, "sample_window": 50, "timeout": 30}, "must be shorter than timeout"),
    Case("spec-edition", "kafka_spec_facts", "an edition that does not exist",
         {"source": SRC, "edition": "platinum-xl", "sample_window": 0},
         "edition 'platinum-xl' is not in the catalogue; choose one of"),
    Case("spec-limits", "kafka_spec_facts", "a negative target limit",
         {"source": SRC, "target": TGT, "target_limits": {"max_partitions": -1}, "sample_window": 0},
         "target_limits.max_partitions must not be negative"),
    # -- kafka_security_sync
    Case("security-iterations", "kafka_security_sync", "a user with iterations: 100",
         {"source": SRC, "target": TGT, "users": [{"name": "{tag}-app", "password": "p", "iterations": 100}]},
         "users[{tag}-app]: iterations must be an integer from 4096 to 16384 (Kafka's bounds), got 100"),
    Case("security-principal-map", "kafka_security_sync", "principal_map with a principal that is not Type:name",
         {"source": SRC, "target": TGT, "principal_map": {"alice": "User:alice"}},
         "principal_map[alice]: 'alice' is not a principal of the form Type:name"),
    Case("security-resource-type", "kafka_security_sync", "resource_types naming a type Kafka does not have",
         {"source": SRC, "target": TGT, "resource_types": ["TABLE"]},
         "value of resource_types must be one or more of: TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID"),
    Case("security-same", "kafka_security_sync", "source and target are the same cluster",
         {"source": SRC, "target": SRC}, "nothing was read or written: the source and the target are the same cluster"),
    # -- kafka_client_config
    Case("config-missing-file", "kafka_client_config", "path of a file that does not exist, create false",
         {"cluster": TGT, "path": "{tmp}/absent.properties", "dialect": "java"},
         "{tmp}/absent.properties does not exist (use create=true to create it)"),
    Case("config-no-folder", "kafka_client_config", "path in a folder that does not exist",
         {"cluster": TGT, "path": "{tmp}/nofolder/app.properties", "dialect": "java", "create": True},
         "the folder of {tmp}/nofolder/app.properties does not exist"),
    Case("config-java-pem-key", "kafka_client_config", "dialect java with ssl_certificate_location",
         {"cluster": _with(TGT, security_protocol="SASL_SSL", ssl_certificate_location="{tmp}/c.pem",
                           ssl_key_location="{tmp}/k.pem"),
          "path": "{tmp}/app.properties", "dialect": "java"},
         "dialect java cannot use", files={"app.properties": "bootstrap.servers=old:9092\n"}),
    Case("config-ca-and-truststore", "kafka_client_config", "both ssl_ca_location and truststore",
         {"cluster": _with(TGT, security_protocol="SASL_SSL", ssl_ca_location="{tmp}/ca.pem"),
          "truststore": {"location": "{tmp}/t.jks"},
          "path": "{tmp}/app.properties", "dialect": "java"},
         "not both", files={"app.properties": "bootstrap.servers=old:9092\n"}),
    Case("config-no-dialect", "kafka_client_config", "no dialect",
         {"cluster": TGT, "path": "{tmp}/app.properties"}, "missing required arguments: dialect",
         files={"app.properties": "bootstrap.servers=old:9092\n"}),
    Case("config-directory", "kafka_client_config", "path naming a folder",
         {"cluster": TGT, "path": "{tmp}", "dialect": "java"}, "{tmp} is a directory"),
    # -- kafka_service
    Case("service-command-no-commands", "kafka_service", "manager command without commands",
         {"name": ["app"], "manager": "command", "state": "started"},
         "manager is command but all of the following are missing: commands"),
    Case("service-pattern-no-file", "kafka_service", "log_pattern without log_file",
         {"name": ["app"], "manager": "supervisord", "log_pattern": "started"},
         "missing parameter(s) required by 'log_pattern': log_file"),
]

# Role variables; every role also gets the clusters its argument spec requires where shown.
ROLE_CASES = [
    Case("role-evaluate-interval", "kafka_evaluate", "kafka_evaluate_sample_interval 5 with kafka_evaluate_sample_window 2",
         {"kafka_evaluate_source": SRC, "kafka_evaluate_sample_window": 2, "kafka_evaluate_sample_interval": 5},
         "at most a positive kafka_evaluate_sample_window"),
    Case("role-evaluate-same", "kafka_evaluate", "kafka_evaluate_source and kafka_evaluate_target the same cluster",
         {"kafka_evaluate_source": SRC, "kafka_evaluate_target": SRC}, "onto itself"),
    Case("role-topics-include-empty", "kafka_topics", "kafka_topics_include: []",
         {"kafka_topics_source": SRC, "kafka_topics_target": TGT, "kafka_topics_include": []}, "kafka_topics_include"),
    Case("role-topics-string", "kafka_topics", "kafka_topics_include as a string, not a list",
         {"kafka_topics_source": SRC, "kafka_topics_target": TGT, "kafka_topics_include": "orders.*"},
         "kafka_topics_include"),
    Case("role-groups-policy", "kafka_groups", "kafka_groups_policy: newest",
         {"kafka_groups_source": SRC, "kafka_groups_target": TGT, "kafka_groups_groups": [{"name": "{group}"}],
          "kafka_groups_policy": "newest"}, "kafka_groups_policy"),
    Case("role-groups-same", "kafka_groups", "kafka_groups_source and kafka_groups_target the same cluster",
         {"kafka_groups_source": SRC, "kafka_groups_target": SRC, "kafka_groups_groups": [{"name": "{group}"}]},
         "onto itself"),
    Case("role-copy-nothing", "kafka_copy", "no kafka_copy_topics and no kafka_copy_include",
         {"kafka_copy_source": SRC, "kafka_copy_target": TGT}, "kafka_copy_include"),
    Case("role-drain-no-groups", "kafka_drain", "no kafka_drain_groups while waiting for them to drain",
         {"kafka_drain_source": SRC, "kafka_drain_groups": []}, "kafka_drain_groups"),
    Case("role-producers-no-apps", "kafka_producers", "kafka_producers_apps: []",
         {"kafka_producers_source": SRC, "kafka_producers_target": TGT, "kafka_producers_apps": []},
         "kafka_producers_apps"),
    Case("role-consumers-no-target", "kafka_consumers", "kafka_consumers_target without bootstrap_servers",
         {"kafka_consumers_target": {"security_protocol": "SASL_SSL"}, "kafka_consumers_apps": [{"services": ["a"]}]},
         "kafka_consumers_target"),
]

CASES = MODULE_CASES + ROLE_CASES


def fill(value, ctx):
    """``value`` with the placeholders of ``ctx`` filled and ``@source``/``@target`` resolved."""
    if isinstance(value, dict):
        return dict((k, fill(v, ctx)) for k, v in value.items())
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    if isinstance(value, str):
        for name in ("source", "target"):
            at = "@" + name
            if value == at:
                return dict(ctx[name])
            if value.startswith(at + "+"):
                return dict(ctx[name], **fill(json.loads(value[len(at) + 1:]), ctx))
        return value.format(**dict((k, v) for k, v in ctx.items() if isinstance(v, str)))
    return value


def _show(value):
    if isinstance(value, str) and value.startswith("@") and "+" in value:
        base, changes = value.split("+", 1)
        return "%s with %s" % (base[1:], ", ".join("%s: %s" % (k, json.dumps(v)) for k, v in json.loads(changes).items()))
    if isinstance(value, str) and value in (SRC, TGT):
        return "the %s cluster's options" % value[1:]
    return json.dumps(value)


def markdown():
    """The published table (docs/bad-input.md)."""
    out = [
        "# Bad input and what you see",
        "",
        "Every row below is run against real clusters by `tests/integration/test_bad_input_kafka.py`, which",
        "checks that the task fails (or warns, where marked) with a message holding the text shown, and that",
        "nothing changed on either cluster or on disk. Generated from `tests/utils/bad_input.py`",
        "(`python tests/utils/bad_input.py > docs/bad-input.md`); a unit test keeps the two equal.",
        "",
        "`{topic}`, `{group}`, `{tmp}` and `{tag}` stand for the test's own names. Connection rows use",
        "`request_timeout: %d` so that they fail in seconds; with the default (10 s) they take a few seconds more." % RT,
        "Inputs that only warn (marked *warns*) are legitimate on a re-run (the topics or groups may be",
        "gone already), so they do not fail the task.",
        "",
        "| # | Module or role | Input | What you see (part of the message) |",
        "|---|---|---|---|",
    ]
    for i, c in enumerate(CASES, 1):
        opts = ", ".join("`%s: %s`" % (k, _show(v).replace("|", "\\|")) for k, v in c.args.items()
                         if not (isinstance(v, str) and v == "@" + k))  # source: the source goes without saying
        sees = ("*warns:* " if c.kind == "warn" else "") + "`%s`" % c.sees.replace("|", "\\|")
        out.append("| %d | `%s` | %s<br>%s | %s |" % (i, c.where, c.input.replace("|", "\\|"), opts, sees))
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
