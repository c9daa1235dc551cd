"""The roles and playbooks against the real clusters: playbooks/migrate.yml phase by phase.

Each phase runs through ansible-playbook as users run it: first in check mode (reports a change,
changes nothing), then for real, then again (reports no change). The sample data comes from the
demo's generator (demo/generate.py) under a unique prefix, and the target is read back with a plain
AdminClient, independently of the collection's modules.
"""

import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from tests.utils.playbook import run_playbook
from tests.utils.wait import list_offsets, wait_topic_overrides, wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATE = os.path.join(REPO, "playbooks", "migrate.yml")
GENERATE = os.path.join(REPO, "demo", "generate.py")
SAMPLE = {"orders": 6, "payments": 3, "customers": 4, "audit": 1}


def recap(output):
    """``(changed, failed)`` counts of localhost from ansible-playbook's PLAY RECAP."""
    found = re.findall(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output)
    assert found, output[-3000:]
    return int(found[-1][0]), int(found[-1][1])


def generate(clusters, tmp_path, prefix, *args):
    path = tmp_path / "clusters.json"
    if not path.exists():
        path.write_text(json.dumps(dict(clusters)))
    out = subprocess.run([sys.executable, GENERATE, "--clusters-file", str(path), "--prefix", prefix] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, check=True)
    if args and args[0] == "fill":  # the modules may ask any source broker: wait until each has the topics
        wait_topics_on_every_broker(clusters.librdkafka("source"), ["%s.%s" % (prefix, s) for s in SAMPLE],
                                    dict(("%s.%s" % (prefix, s), n) for s, n in SAMPLE.items()))
    return json.loads(out.stdout)


def wait_target_topics(clusters, prefix):
    """Wait until every target broker lists the sample topics (the next step asks any of them)."""
    wait_topics_on_every_broker(clusters.librdkafka("target"), ["%s.%s" % (prefix, s) for s in SAMPLE],
                                dict(("%s.%s" % (prefix, s), n) for s, n in SAMPLE.items()))


def target_topics(clusters, prefix):
    """``{topic: (partitions, replication_factor, topic-level configs)}`` as the target has them."""
    admin = AdminClient(clusters.librdkafka("target"))
    md = admin.list_topics(timeout=15)
    names = sorted(n for n in md.topics if n.startswith(prefix + "."))
    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names], request_timeout=15)
    out = {}
    for res, fut in futures.items():
        parts = md.topics[res.name].partitions
        configs = dict((k, e.value) for k, e in fut.result(timeout=20).items()
                       if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        out[res.name] = (len(parts), min(len(p.replicas) for p in parts.values()), configs)
    return out


def extra_vars(clusters, **more):
    return dict({"kafka_source": clusters.source, "kafka_target": clusters.target}, **more)


def test_generator_fills_source_with_lagging_group(clusters, unique, tmp_path):
    prefix = unique("roles-gen")
    first = generate(clusters, tmp_path, prefix, "fill", "--messages", "120")
    assert sorted(first["created"]) == sorted("%s.%s" % (prefix, s) for s in SAMPLE)
    assert first["written"] == 4 * 120
    assert first["group_lag"] > 0
    # idempotent: a second fill creates and writes nothing, the group keeps its offsets
    again = generate(clusters, tmp_path, prefix, "fill", "--messages", "120")
    assert again["created"] == [] and again["written"] == 0
    assert again["group_offsets"] == first["group_offsets"]
    source = generate(clusters, tmp_path, prefix, "describe", "--cluster", "source")
    assert dict((t, d["partitions"]) for t, d in source.items()) == dict(("%s.%s" % (prefix, s), n) for s, n in SAMPLE.items())
    assert all(d["replication_factor"] == 3 for d in source.values())
    assert source["%s.customers" % prefix]["config"]["cleanup.policy"] == "compact"


def test_topics_phase_check_then_real_then_unchanged(clusters, unique, tmp_path):
    prefix = unique("roles-topics")
    generate(clusters, tmp_path, prefix, "fill", "--messages", "50")
    report = tmp_path / "topics.json"
    ev = extra_vars(clusters, kafka_topics_include=[re.escape(prefix) + r"\..*"], kafka_topics_report_file=str(report))

    rc, out = run_playbook(MIGRATE, ev, check=True, diff=True, tags="topics")
    assert rc == 0, out[-3000:]
    assert recap(out)[0] >= 1
    assert "would create: 4 topic(s)" in out
    assert target_topics(clusters, prefix) == {}
    assert not report.exists()

    rc, out = run_playbook(MIGRATE, ev, tags="topics")
    assert rc == 0, out[-3000:]
    result = json.loads(report.read_text())
    assert sorted(result["created"]) == sorted("%s.%s" % (prefix, s) for s in SAMPLE)
    wait_target_topics(clusters, prefix)
    got = target_topics(clusters, prefix)
    assert dict((t, v[0]) for t, v in got.items()) == dict(("%s.%s" % (prefix, s), n) for s, n in SAMPLE.items())
    assert set(v[1] for v in got.values()) == {min(3, clusters["target"]["brokers"])}
    assert got["%s.orders" % prefix][2]["retention.ms"] == "604800000"
    assert got["%s.customers" % prefix][2]["cleanup.policy"] == "compact"
    # the evaluate phase did not run (tags select the phase)
    assert "kafka_evaluate : Read the source" not in out

    # idempotent: the same phase again changes nothing (no report file, whose content is the last run's)
    ev.pop("kafka_topics_report_file")
    rc, out = run_playbook(MIGRATE, ev, tags="topics")
    assert rc == 0, out[-3000:]
    assert recap(out) == (0, 0)
    assert "created: 0 topic(s)" in out


def test_topics_phase_fails_on_drift_then_aligns(clusters, unique, tmp_path):
    prefix = unique("roles-drift")
    generate(clusters, tmp_path, prefix, "fill", "--messages", "10")
    # the target already has payments with another retention
    admin = AdminClient(clusters.librdkafka("target"))
    name = "%s.payments" % prefix
    admin.create_topics([NewTopic(name, 3, 2, config={"retention.ms": "3600000"})])[name].result(timeout=30)
    wait_topics_on_every_broker(clusters.librdkafka("target"), name, 3)
    base = dict(kafka_topics_include=[re.escape(name)], kafka_topics_fail_on_drift=True)

    rc, out = run_playbook(MIGRATE, extra_vars(clusters, **base), tags="topics")
    assert rc != 0
    assert "differ from the source and were not aligned: %s" % name in out
    assert target_topics(clusters, prefix)[name][2]["retention.ms"] == "3600000"

    rc, out = run_playbook(MIGRATE, extra_vars(clusters, kafka_topics_align_configs=True, **base), tags="topics")
    assert rc == 0, out[-3000:]
    # a KRaft broker shows an altered config once its metadata caught up: wait for every one
    wait_topic_overrides(clusters.librdkafka("target"), name, {"retention.ms": "1209600000"}, exact=False)
    assert target_topics(clusters, prefix)[name][2]["retention.ms"] == "1209600000"


def test_preflight_refuses_to_copy_a_cluster_onto_itself(clusters, unique):
    prefix = unique("roles-self")
    ev = {"kafka_source": clusters.source, "kafka_target": clusters.source,
          "kafka_topics_include": [re.escape(prefix) + r"\..*"]}
    rc, out = run_playbook(MIGRATE, ev, tags="topics")
    assert rc != 0
    assert "refusing to copy a cluster onto itself" in out
    assert "Create the source's topics on the target" not in out  # stopped before the module ran


def test_preflight_names_missing_cluster_options():
    rc, out = run_playbook(MIGRATE, {"kafka_topics_include": ["nothing"]}, tags="topics")
    assert rc != 0
    assert "must be cluster option dicts with bootstrap_servers" in out


def target_group_offsets(clusters, group):
    from confluent_kafka import ConsumerGroupTopicPartitions
    admin = AdminClient(clusters.librdkafka("target"))
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)[group]
    return dict(("%s:%d" % (tp.topic, tp.partition), tp.offset) for tp in fut.result(timeout=20).topic_partitions)


def test_groups_phase_commits_start_offsets_on_target(clusters, unique, tmp_path):
    prefix = unique("roles-groups")
    fill = generate(clusters, tmp_path, prefix, "fill", "--messages", "40")
    group = fill["group"]
    ev = extra_vars(clusters, kafka_topics_include=[re.escape(prefix) + r"\..*"],
                    kafka_groups_group_pattern="^" + re.escape(prefix) + r"\.")
    rc, out = run_playbook(MIGRATE, ev, tags="topics")
    assert rc == 0, out[-3000:]
    wait_target_topics(clusters, prefix)

    rc, out = run_playbook(MIGRATE, ev, check=True, diff=True, tags="groups")
    assert rc == 0, out[-3000:]
    assert recap(out)[0] >= 1
    assert "would commit (earliest): %s" % group in out
    assert target_group_offsets(clusters, group) == {}

    rc, out = run_playbook(MIGRATE, ev, tags="groups")
    assert rc == 0, out[-3000:]
    offsets = target_group_offsets(clusters, group)
    # every partition of the topics the source group consumes starts at the (empty) target's log start
    assert sorted(offsets) == sorted(fill["group_offsets"])
    assert set(offsets.values()) == {0}

    rc, out = run_playbook(MIGRATE, ev, tags="groups")
    assert rc == 0, out[-3000:]
    assert recap(out) == (0, 0)
    assert "unchanged: %s" % group in out


def test_evaluate_phase_reports_recommendation_and_preflight(clusters, unique, tmp_path):
    prefix = unique("roles-eval")
    generate(clusters, tmp_path, prefix, "fill", "--messages", "30")
    report = tmp_path / "evaluate.json"
    ev = extra_vars(clusters, kafka_evaluate_include=[re.escape(prefix) + r"\..*"], kafka_evaluate_sample_window=1,
                    kafka_evaluate_report_file=str(report))
    rc, out = run_playbook(MIGRATE, ev, tags="evaluate")
    assert rc == 0, out[-3000:]
    assert recap(out) == (1, 0)  # the report file; both clusters are only read
    spec = json.loads(report.read_text())
    assert spec["totals"]["topics"] == 4 and spec["totals"]["partitions"] == sum(SAMPLE.values())
    assert spec["controller_mode"] == "zookeeper"
    assert spec["recommendation"]["fits"] is True
    assert spec["preflight"]["fits"] is True and spec["preflight"]["clashes"] == []
    assert "recommended target: %s" % spec["recommendation"]["edition"] in out
    assert "partitions = %d" % sum(SAMPLE.values()) in out
    assert "target preflight: fits" in out
    # the topics phase did not run
    assert "kafka_topics : Create the source" not in out
    assert target_topics(clusters, prefix) == {}


def test_evaluate_phase_fails_when_target_limits_are_too_small(clusters, unique, tmp_path):
    prefix = unique("roles-misfit")
    generate(clusters, tmp_path, prefix, "fill", "--messages", "10")
    ev = extra_vars(clusters, kafka_evaluate_include=[re.escape(prefix) + r"\..*"], kafka_evaluate_sample_window=0,
                    kafka_evaluate_target_limits={"max_topics": 1})
    rc, out = run_playbook(MIGRATE, ev, tags="evaluate,topics")
    assert rc != 0
    assert "the migration does not fit" in out
    assert "exceed the limit 1" in out
    # the play stopped before the topics phase: nothing was created on the target
    assert target_topics(clusters, prefix) == {}

    rc, out = run_playbook(MIGRATE, dict(ev, kafka_evaluate_fail_on_misfit=False), tags="evaluate")
    assert rc == 0, out[-3000:]
    assert "target preflight: does NOT fit" in out


# -- the cutover: consumers, producers and drain phases with the demo applications under supervisord --
def run_with_inventory(inventory, extra, tags=None, check=False, background=False, verbosity=0, env=None):
    """ansible-playbook migrate.yml with a real inventory (hosts in the kafka_* groups, local connection).

    ``tags=None`` runs the whole playbook. ``background=True`` returns the running ``Popen`` (its output
    goes to ``<inventory folder>/run.log``); otherwise ``(returncode, output)``. ``verbosity`` 3 is ``-vvv``;
    ``env`` adds environment variables (e.g. ``ANSIBLE_LOG_PATH``).
    """
    from tests.utils.collection import collections_root
    extra_env = env or {}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0")
    env.update(extra_env)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), MIGRATE,
           "-e", json.dumps(extra)] + (["--tags", tags] if tags else []) + (["--check", "--diff"] if check else [])
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    if background:
        log = open(os.path.join(os.path.dirname(str(inventory)), "run.log"), "w")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout


def recap_all(output):
    """Summed ``(changed, failed)`` over every host of the last PLAY RECAP."""
    tail = output.rsplit("PLAY RECAP", 1)[-1]
    rows = re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", tail, re.M)
    assert rows, output[-3000:]
    return sum(int(row[0]) for row in rows), sum(int(row[1]) for row in rows)


class AppRig:
    """The demo applications under supervisord, as the inventory of a migration.

    One topic on the source; producers ``p1``, ``p2``... (one inventory host each, so they move host by
    host), numbered and keyed, each with a ledger of what the cluster acknowledged; ``consumer-old``
    (group ``group`` on the source, inventory group kafka_old_consumers) and ``consumer-new`` (the same
    group on the target, kafka_consumers; it keeps the usual ``auto.offset.reset=latest``: the groups
    step is what makes it start right), each with a ledger of what it processed.
    """

    def __init__(self, clusters, tmp_path, unique, name, producers=("p1", "p2"), rate=40, partitions=3, host_vars=None,
                 group=None, target_topic=None, topic_key=False):
        """``group``: the group's name (default from ``name``); ``target_topic``: the topic's name on the target
        (default the source's); ``topic_key``: the applications read their topic from ``app.topic`` in their
        configuration file, a key the switch renames (``topic_keys``), instead of from the command line."""
        from tests.integration.test_demo_apps import Supervisor, write_properties
        self.clusters, self.folder = clusters, tmp_path
        self.topic, self.group = unique(name), group or unique(name + "-app")
        self.target_topic = target_topic(self.topic) if callable(target_topic) else (target_topic or self.topic)
        self.producers = list(producers)
        admin = AdminClient(clusters.librdkafka("source"))
        admin.create_topics([NewTopic(self.topic, partitions, 3)])[self.topic].result(timeout=30)
        wait_topics_on_every_broker(clusters.librdkafka("source"), self.topic, partitions)  # before the apps ask any broker
        for prog in ["old", "new"] + self.producers:
            path = tmp_path / ("%s.properties" % prog)
            write_properties(path, clusters["source"])
            if topic_key:
                path.write_text(path.read_text() + "app.topic=%s\n" % self.topic)
        consumer_args = ["--group", self.group, "--topic", self.topic]
        programs = [
            {"name": "consumer-old", "app": "consumer",
             "args": ["--config", "old.properties", "--ledger", "old.ledger", "--offset-reset", "earliest"] + consumer_args},
            {"name": "consumer-new", "app": "consumer",
             "args": ["--config", "new.properties", "--ledger", "new.ledger"] + consumer_args},
        ] + [{"name": p, "app": "producer",
              "args": ["--config", "%s.properties" % p, "--topic", self.topic, "--id", p, "--ledger", "%s.ledger" % p,
                       "--rate", str(rate)]}
             for p in self.producers]
        ctl = os.path.join(os.path.dirname(sys.executable), "supervisorctl")
        manager = {"kafka_app_manager": "supervisord", "kafka_app_supervisorctl": ctl,
                   "kafka_app_supervisor_config": str(tmp_path / "supervisord.conf"), "kafka_app_settle": 2}

        def config(name):
            return dict({"path": str(tmp_path / ("%s.properties" % name)), "format": "properties", "dialect": "librdkafka"},
                        **({"topic_keys": ["app.topic"]} if topic_key else {}))
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": dict(manager, ansible_connection="local", ansible_python_interpreter=sys.executable),
            "hosts": {"localhost": {}},
            "children": {
                "kafka_consumers": {"hosts": {"app-1": {"kafka_consumers_apps": [
                    {"name": "consumer-new", "services": ["consumer-new"], "config": config("new"), "groups": [self.group]}]}}},
                "kafka_old_consumers": {"hosts": {"app-1": {"kafka_drain_apps": [{"services": ["consumer-old"]}]}}},
                "kafka_producers": {"hosts": dict(
                    ("app-%s" % p, {"kafka_producers_apps": [
                        {"name": p, "services": [p], "config": config(p), "topics": [self.topic]}]})
                    for p in self.producers)},
            }}}))
        if host_vars:                     # more (or other) variables of some hosts, e.g. a broken target for one
            inv = json.loads(self.inventory.read_text())
            for group in inv["all"]["children"].values():
                for host, hvars in group["hosts"].items():
                    hvars.update(host_vars.get(host, {}))
            self.inventory.write_text(json.dumps(inv))
        self.supervisor = Supervisor(tmp_path, programs)
        self.source_servers = clusters["source"]["bootstrap_servers"]
        self.target_servers = clusters["target"]["bootstrap_servers"]

    def extra(self, **more):
        """The migration's variables for this rig's topic and group, plus ``more``."""
        return extra_vars(self.clusters, **dict(dict(
            kafka_topics_include=[re.escape(self.topic)], kafka_groups_groups=[{"name": self.group, "topics": [self.topic]}],
            kafka_drain_groups=[self.group], kafka_drain_topics=[self.topic], kafka_drain_idle_for=3,
            kafka_drain_interval=1, kafka_drain_timeout=240), **more))

    def run(self, extra, tags=None, check=False, background=False, verbosity=0, env=None):
        return run_with_inventory(self.inventory, extra, tags, check=check, background=background, verbosity=verbosity,
                                  env=env)

    def ledger(self, name):
        from tests.integration.test_demo_apps import ledger
        return ledger(self.folder / ("%s.ledger" % name))

    def acked(self):
        return [f for p in self.producers for f in self.ledger(p)]

    def written_to_target(self, count, timeout=90):
        """Wait until every producer had ``count`` messages acknowledged by the target."""
        from tests.integration.test_demo_apps import wait_for
        wait_for("the producers to write to the target", lambda: all(
            sum(1 for f in self.ledger(p) if f[5] == self.target_servers) >= count for p in self.producers), timeout)

    def finish(self, timeout=120):
        """Stop the producers, wait until the new consumer processed everything, stop it; the final ledgers."""
        from tests.integration.test_demo_apps import wait_for
        self.supervisor.ctl("stop", *self.producers)
        acked = set((f[0], int(f[1])) for f in self.acked())
        wait_for("the consumers to process every acknowledged message",
                 lambda: acked <= set((f[0], int(f[1])) for f in self.ledger("old") + self.ledger("new")), timeout)
        self.supervisor.ctl("stop", "consumer-new")
        return self.ledger("old"), self.ledger("new"), self.acked()

    def check_ledgers(self, old, new, acked):
        """0 lost, 0 processed twice, numbers without gaps; returns the figures."""
        for p in self.producers:                                   # numbered without gap across the move
            seqs = sorted(int(f[1]) for f in acked if f[0] == p)
            assert seqs == list(range(len(seqs))), p
        processed = Counter((f[0], int(f[1])) for f in old + new)
        twice = sorted(k for k, n in processed.items() if n > 1)
        lost = sorted(set((f[0], int(f[1])) for f in acked) - set(processed))
        invented = sorted(set(processed) - set((f[0], int(f[1])) for f in acked))
        assert (twice, lost, invented) == ([], [], []), "twice %s, lost %s, invented %s" % (twice[:10], lost[:10], invented[:10])
        assert {f[5] for f in old} <= {self.source_servers} and {f[5] for f in new} == {self.target_servers}
        # nobody read another topic (a backup): the old consumers the source's, the new ones the target's name of it
        assert {f[2] for f in old} <= {self.topic} and {f[2] for f in new} == {self.target_topic}
        return {"acknowledged": len(acked), "on_source": sum(1 for f in acked if f[5] == self.source_servers),
                "on_target": sum(1 for f in acked if f[5] == self.target_servers),
                "processed_old": len(old), "processed_new": len(new), "lost": len(lost), "twice": len(twice)}


def test_cutover_loses_and_duplicates_nothing(clusters, unique, tmp_path):
    from tests.integration.test_demo_apps import wait_for
    rig = AppRig(clusters, tmp_path, unique, "cutover")
    extra = rig.extra(kafka_groups_policy="earliest")
    phases = "topics,groups,consumers,producers,drain"

    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", *rig.producers)
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 40, 90)

        rc, out = rig.run(extra, "topics,groups")
        assert rc == 0, out[-4000:]

        # check mode first: reports changes, changes nothing (no new consumer, producers still on the source)
        rc, out = rig.run(extra, "consumers,producers,drain", check=True)
        assert rc == 0, out[-4000:]
        assert recap_all(out)[0] >= 3
        assert "would wait until groups %s have consumed everything" % rig.group in out
        assert "old consumers on app-1: would stop consumer-old" in out
        assert "consumers on app-1: would start consumer-new" in out
        assert "producers on app-p1: would restart p1" in out and "producers on app-p2: would restart p2" in out
        assert "admin-secret" not in out                        # --diff shows the client keys, secrets masked
        assert "********" in out                                 # ... and they are there
        assert sup.state("consumer-old") == "RUNNING" and sup.state("consumer-new") == "STOPPED"
        assert rig.source_servers in (tmp_path / "new.properties").read_text()
        assert rig.source_servers in (tmp_path / "p1.properties").read_text()

        rc, out = rig.run(extra, "consumers,producers,drain")
        assert rc == 0, out[-4000:]
        # producers moved host by host: the serial plays ran one producer host each
        assert out.count("PLAY [Step 7, move the producers to the target, host by host]") == 2
        assert sup.state("consumer-old") == "STOPPED"          # stopped by the drain phase, once drained
        assert sup.state("consumer-new") == "RUNNING"
        assert all(sup.state(p) == "RUNNING" for p in rig.producers)
        assert "sasl.password" in (tmp_path / "p1.properties").read_text()
        assert "admin-secret" not in out                        # the password never shows in the output

        # the same phases again change nothing (the group on the target has a member now: never forced)
        rc, again = rig.run(extra, phases)
        assert rc == 0, again[-4000:]
        assert recap_all(again) == (0, 0), again[-4000:]

        rig.written_to_target(10)
        old, new, acked = rig.finish()

    assert {f[5] for f in acked} == {rig.source_servers, rig.target_servers}
    rig.check_ledgers(old, new, acked)


def test_copy_phase_then_groups_translate_to_the_same_place(clusters, unique, tmp_path):
    # the move procedure's copy goes to the same-named topics (drain's is a backup, test_procedures_kafka)
    prefix = unique("roles-copy")
    fill = generate(clusters, tmp_path, prefix, "fill", "--messages", "60")
    report = tmp_path / "copy.json"
    ev = extra_vars(clusters, kafka_migration_procedure="move", kafka_topics_include=[re.escape(prefix) + r"\..*"],
                    kafka_copy_include=[re.escape(prefix) + r"\..*"], kafka_copy_name=prefix,
                    kafka_copy_report_file=str(report), kafka_groups_group_pattern="^" + re.escape(prefix) + r"\.",
                    kafka_groups_fallback="fail")
    # without kafka_migration_copy=true the copy is skipped (and move refused, before anything changes)
    rc, out = run_playbook(MIGRATE, dict(ev, kafka_migration_procedure="drain"), tags="topics,copy")
    assert rc == 0, out[-3000:]
    assert not report.exists()
    rc, out = run_playbook(MIGRATE, ev, tags="copy")
    assert rc != 0 and "move needs the copy" in out
    wait_target_topics(clusters, prefix)

    # --tags copy runs every pass of the move procedure: bulk, catch-up, final (nothing left for the last two)
    rc, out = run_playbook(MIGRATE, dict(ev, kafka_migration_copy=True), tags="copy")
    assert rc == 0, out[-3000:]
    assert "bulk pass: copied %d records" % (4 * 60) in out
    assert "catch-up pass: copied 0 records" in out and "final pass: copied 0 records" in out
    copied = json.loads(report.read_text())
    assert copied["records"] == 0 and copied["lag"] == 0
    wait_map_covers(clusters, prefix)

    rc, out = run_playbook(MIGRATE, dict(ev, kafka_migration_copy=True), tags="groups")
    assert rc == 0, out[-3000:]
    assert "committed (translate): %s" % fill["group"] in out
    # the copy kept partitions and offsets, so the group resumes on the target exactly where it was on the source
    assert target_group_offsets(clusters, fill["group"]) == fill["group_offsets"]


def wait_map_covers(clusters, prefix, map_topic="kafkaops.mirror.offsets"):
    """Wait until the offset map (read_committed, as translate reads it) records the whole copy of the
    sample topics: the copy's last transaction is committed before its markers reach the map topic."""
    from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
    from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic
    admin = AdminClient(clusters.librdkafka("source"))
    tps = [("%s.%s" % (prefix, s), p) for s, n in SAMPLE.items() for p in range(n)]
    ends = dict((tp, end) for tp, end in list_offsets(admin, tps).items() if end > 0)

    def probe():
        omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
        return dict((tp, omap.partitions[tp].source_next if tp in omap.partitions else None) for tp in ends)

    wait_until("the offset map %s covering the copy of %s.* %s" % (map_topic, prefix, ends), probe,
               lambda seen: all(seen[tp] is not None and seen[tp] >= end for tp, end in ends.items()))
