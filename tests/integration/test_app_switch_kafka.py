"""Steps 6-8 with real applications: Java (Kafka's own client) and Python (librdkafka) under supervisord.

The applications are the demo ledger apps (demo/apps): producers log every message the cluster
acknowledged, consumers every message they processed. Each is described in the inventory as it really
is - its supervisord program, its configuration file (Java properties, Spring Boot YAML, ``.env``), its
client dialect - and moved by migrate.yml. What is checked is what the issue asks for: 0 lost, 0
processed twice, the application's own settings kept, a backup kept, starts proven, a failed host rolled
back with one message, preflight of every host before the first one moves, check mode with a masked diff,
and strict order (per-key order across the switch).
"""

import importlib.util
import json
import os
import re
import shlex
import sys
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.test_demo_apps import Supervisor, ledger, wait_for
from tests.integration.test_roles_kafka import recap_all, run_with_inventory
from tests.utils.wait import wait_topics_on_every_broker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(REPO, "demo", "apps")
CTL = os.path.join(os.path.dirname(sys.executable), "supervisorctl")


def _build_module():
    spec = importlib.util.spec_from_file_location("demo_apps_build", os.path.join(APPS, "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def java():
    """The Java ledger apps, compiled once (cached by the sources' hash)."""
    mod = _build_module()
    mod.build()
    return mod


def python_command(kind, args):
    return [sys.executable, os.path.join(APPS, "%s.py" % kind)] + list(args)


# The applications' own configuration files as they are deployed, pointing at the source. Every file has
# lines of the application's own (comments, acks, client.id, linger.ms, isolation.level) that a switch
# must keep as they are.
def java_properties(servers, client_id):
    return ("# orders service, Kafka client settings (kept by the migration)\n"
            "bootstrap.servers=%s\nsecurity.protocol=PLAINTEXT\n"
            "acks=all\nclient.id=%s\nlinger.ms=7\n" % (servers, client_id))


def librdkafka_properties(servers, client_id):
    return ("# librdkafka settings\nbootstrap.servers=%s\n! the app's own tuning\nclient.id=%s\nlinger.ms=7\n"
            "isolation.level=read_committed\n" % (servers, client_id))


def dotenv(servers, client_id):
    return ("# environment of the audit service (systemd EnvironmentFile)\nexport APP_NAME=audit\n"
            "KAFKA_BOOTSTRAP_SERVERS=%s\nKAFKA_SECURITY_PROTOCOL=PLAINTEXT\nKAFKA_CLIENT_ID=%s\nKAFKA_ACKS=all\n"
            "KAFKA_ISOLATION_LEVEL=read_committed\n" % (servers, client_id))


def spring_yaml(servers, client_id):
    return ("# Spring Boot application.yml\nspring:\n  application:\n    name: billing  # the service\n"
            "  kafka:\n    bootstrap-servers: %s\n    properties:\n      security.protocol: PLAINTEXT\n"
            "      isolation.level: read_committed\n      client.id: %s\nserver:\n  port: 8080\n" % (servers, client_id))


WRITERS = {("properties", "java"): java_properties, ("properties", "librdkafka"): librdkafka_properties,
           ("env", "librdkafka"): dotenv, ("yaml", "java"): spring_yaml}
EXT = {"properties": "properties", "env": "env", "yaml": "yml"}


class App:
    """One application: a supervisord program with its configuration file and its ledger."""

    def __init__(self, rig, name, kind, lang, fmt, dialect, group=None, extra_args=(), host=None):
        self.rig, self.name, self.kind, self.lang, self.format, self.dialect = rig, name, kind, lang, fmt, dialect
        self.group, self.host = group, host
        self.config = rig.folder / ("%s.%s" % (name, EXT[fmt]))
        self.config.write_text(WRITERS[(fmt, dialect)](rig.source_servers, "app-%s" % name))
        self.original = self.config.read_bytes()
        self.ledger_path = rig.folder / ("%s.ledger" % name)
        self.log = rig.folder / "logs" / ("%s.log" % name)
        args = ["--config", str(self.config), "--ledger", str(self.ledger_path)]
        if lang == "java":
            args += ["--format", fmt]
        else:
            args += ["--config-format", fmt]
        if kind == "producer":
            args += ["--topic", rig.topic, "--id", name, "--rate", str(rig.rate)]
        else:
            args += ["--group", group, "--topic", rig.topic]
        args += list(extra_args)
        argv = rig.java.java_command(kind, args) if lang == "java" else python_command(kind, args)
        self.program = {"name": name, "command": " ".join(shlex.quote(a) for a in argv)}

    def describe(self, **more):
        """The application as the inventory describes it."""
        out = {"name": self.name, "services": [self.name],
               "config": {"path": str(self.config), "format": self.format, "dialect": self.dialect}}
        if self.kind == "producer":
            # the producer's own log proves its first acknowledgement after the start: a per-host proof, as
            # the other (already switched) producers also write to the topic on the target
            out.update(topics=[self.rig.topic], log_file=str(self.log), log_pattern="FIRST-ACK")
        elif self.group:
            out.update(groups=[self.group])
        out.update(more)
        return out

    def ledger(self):
        return ledger(self.ledger_path)


class Rig:
    """A topic on the source, the applications under one supervisord, and the inventory of the migration."""

    def __init__(self, clusters, tmp_path, unique, name, java=None, rate=25, partitions=3):
        self.clusters, self.folder, self.java, self.rate = clusters, tmp_path, java, rate
        (tmp_path / "logs").mkdir(exist_ok=True)
        self.topic = unique(name)
        self.source_servers = clusters["source"]["bootstrap_servers"]
        self.target_servers = clusters["target"]["bootstrap_servers"]
        admin = AdminClient(clusters.librdkafka("source"))      # kept referenced until the topic exists
        admin.create_topics([NewTopic(self.topic, partitions, 3)])[self.topic].result(30)
        wait_topics_on_every_broker(clusters.librdkafka("source"), self.topic, partitions)
        self.apps = {}
        self.supervisor = None

    def add(self, name, *args, **kwargs):
        self.apps[name] = App(self, name, *args, **kwargs)
        return self.apps[name]

    def producers(self):
        return [a for a in self.apps.values() if a.kind == "producer"]

    def start_supervisor(self):
        self.supervisor = Supervisor(self.folder, [a.program for a in self.apps.values()])
        return self.supervisor

    def inventory(self, consumers, old_consumers, producers, host_vars=None, clusters_in_inventory=False):
        """The inventory: ``consumers`` / ``old_consumers`` ``{host: [app descriptions]}``, ``producers`` likewise."""
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "kafka_app_manager": "supervisord", "kafka_app_supervisorctl": CTL,
                  "kafka_app_supervisor_config": str(self.folder / "supervisord.conf"),
                  "kafka_app_settle": 2, "kafka_app_timeout": 45, "kafka_app_kafka_timeout": 45}
        if clusters_in_inventory:           # so that a host's own kafka_target can differ (extra vars would win)
            common.update(kafka_source=self.clusters.source, kafka_target=self.clusters.target)

        def group(var, hosts):
            return {"hosts": dict((h, {var: apps}) for h, apps in hosts.items())}
        inv = {"all": {"vars": common, "hosts": {"localhost": {}}, "children": {
            "kafka_consumers": group("kafka_consumers_apps", consumers),
            "kafka_old_consumers": group("kafka_drain_apps", old_consumers),
            "kafka_producers": group("kafka_producers_apps", producers)}}}
        for group_ in inv["all"]["children"].values():
            for host, hvars in group_["hosts"].items():
                hvars.update((host_vars or {}).get(host, {}))
        path = self.folder / "inventory.json"
        path.write_text(json.dumps(inv))
        return path

    def extra(self, groups, with_clusters=True, **more):
        out = dict(kafka_topics_include=[re.escape(self.topic)],
                   kafka_groups_groups=[{"name": g, "topics": [self.topic]} for g in groups],
                   kafka_groups_policy="earliest", kafka_drain_groups=list(groups), kafka_drain_topics=[self.topic],
                   kafka_drain_idle_for=3, kafka_drain_interval=1, kafka_drain_timeout=240)
        if with_clusters:
            out.update(kafka_source=self.clusters.source, kafka_target=self.clusters.target)
        out.update(more)
        return out

    def acked(self):
        return [f for a in self.producers() for f in a.ledger()]

    def wait_written(self, bootstrap, count, timeout=120):
        wait_for("every producer to have %d messages acknowledged by %s" % (count, bootstrap), lambda: all(
            sum(1 for f in a.ledger() if f[5] == bootstrap) >= count for a in self.producers()), timeout)

    def finish(self, consumers, timeout=150):
        """Stop the producers, wait until each group processed every acknowledged message, stop ``consumers``."""
        self.supervisor.ctl("stop", *[a.name for a in self.producers()])
        acked = set((f[0], int(f[1])) for f in self.acked())
        groups = sorted(set(a.group for a in self.apps.values() if a.group))
        for g in groups:
            wait_for("group %s to process every acknowledged message" % g, lambda g=g: acked <= set(
                (f[0], int(f[1])) for a in self.apps.values() if a.group == g for f in a.ledger()), timeout)
        self.supervisor.ctl("stop", *consumers)

    def check_ledgers(self):
        """0 lost, 0 processed twice in every group, numbers without gaps; the figures per group."""
        acked = self.acked()
        for a in self.producers():
            seqs = sorted(int(f[1]) for f in a.ledger())
            assert seqs == list(range(len(seqs))), a.name
        where = dict(((f[0], int(f[1])), (f[2], f[3], f[4], f[5])) for f in acked)
        figures = {"acknowledged": len(acked),
                   "on_source": sum(1 for f in acked if f[5] == self.source_servers),
                   "on_target": sum(1 for f in acked if f[5] == self.target_servers)}
        for g in sorted(set(a.group for a in self.apps.values() if a.group)):
            rows = [f for a in self.apps.values() if a.group == g for f in a.ledger()]
            seen = Counter((f[0], int(f[1])) for f in rows)
            twice = sorted(k for k, n in seen.items() if n > 1)
            lost = sorted(set(where) - set(seen))
            invented = sorted(set(seen) - set(where))
            assert (twice, lost, invented) == ([], [], []), "%s: twice %s, lost %s, invented %s" % (
                g, twice[:10], lost[:10], invented[:10])
            # each record read where its producer was told it was written (cluster, topic, partition, offset)
            assert all(where[(f[0], int(f[1]))] == (f[2], f[3], f[4], f[5]) for f in rows), g
            figures[g] = {"processed": len(rows), "lost": len(lost), "twice": len(twice)}
        return figures


def run(inventory, extra, tags, check=False):
    rc, out = run_with_inventory(inventory, extra, tags, check=check)
    return rc, out


def backups(path):
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name + ".") and p.name.endswith("~"))


def test_java_and_python_apps_switch_in_place_with_nothing_lost(clusters, unique, tmp_path, java):
    rig = Rig(clusters, tmp_path, unique, "switch-mixed", java=java)
    gj, gp = unique("billing"), unique("audit")
    # the old consumers (on the source) and the new ones (on the target), each group in both languages
    old_j = rig.add("billing-old", "consumer", "python", "properties", "librdkafka", group=gj,
                    extra_args=["--offset-reset", "earliest"])
    old_p = rig.add("audit-old", "consumer", "java", "properties", "java", group=gp, extra_args=["--offset-reset", "earliest"])
    new_j = rig.add("billing-new", "consumer", "java", "yaml", "java", group=gj)
    new_p = rig.add("audit-new", "consumer", "python", "env", "librdkafka", group=gp)
    p1 = rig.add("p1", "producer", "java", "properties", "java")
    p2 = rig.add("p2", "producer", "python", "env", "librdkafka")
    inventory = rig.inventory(
        consumers={"app-1": [new_j.describe(), new_p.describe()]},
        old_consumers={"app-1": [{"services": [old_j.name, old_p.name]}]},
        producers={"app-p1": [p1.describe()], "app-p2": [p2.describe()]})
    # strict order: the new consumers start only once the old groups have drained (per-key order across the switch)
    extra = rig.extra([gj, gp], kafka_migration_strict_order=True)

    with rig.start_supervisor() as sup:
        sup.ctl("start", old_j.name, old_p.name, p1.name, p2.name)
        wait_for("the old consumers to process and commit", lambda: len(old_j.ledger()) >= 30 and len(old_p.ledger()) >= 30, 120)
        rc, out = run(inventory, extra, "topics,groups")
        assert rc == 0, out[-4000:]

        # check mode: what each host would do, the connection keys before and after with secrets masked
        rc, out = run(inventory, extra, "consumers,producers,drain", check=True)
        assert rc == 0, out[-5000:]
        assert "would start billing-new" in out and "would start audit-new" in out
        assert "would restart p1" in out and "would restart p2" in out
        assert "would stop billing-old, would stop audit-old" in out
        assert "sasl.jaas.config" in out and "KAFKA_SASL_PASSWORD" in out or "sasl.password" in out
        assert rig.target_servers in out and "********" in out
        assert "admin-secret" not in out
        for app in rig.apps.values():
            assert app.config.read_bytes() == app.original, app.name
            assert backups(app.config) == []
        assert sup.state(new_j.name) == "STOPPED" and sup.state(p1.name) == "RUNNING"

        rc, out = run(inventory, extra, "consumers,producers,drain")
        assert rc == 0, out[-5000:]
        assert "admin-secret" not in out
        # step 6 ran after step 8: the new consumers were held until the old groups drained and stopped
        assert out.index("PLAY [Step 8") < out.rindex("PLAY [Step 6, start the new consumers on the target]")
        assert "consumers on app-1: started billing-new, started audit-new" in out, out[-5000:]
        assert sup.state(old_j.name) == "STOPPED" and sup.state(old_p.name) == "STOPPED"
        assert all(sup.state(a.name) == "RUNNING" for a in (new_j, new_p, p1, p2))

        # edited in place: the application's own lines are all still there, a backup of the original kept
        for app in (new_j, new_p, p1, p2):
            text = app.config.read_text()
            kept = [line for line in app.original.decode().splitlines()
                    if not re.match(r"\s*(export\s+)?(bootstrap|security|KAFKA_BOOTSTRAP|KAFKA_SECURITY|bootstrap-servers)", line)
                    and "bootstrap-servers" not in line and "security.protocol" not in line]
            assert all(line in text.splitlines() for line in kept), (app.name, text)
            assert rig.target_servers in text and rig.source_servers not in text
            assert [b.read_bytes() for b in backups(app.config)] == [app.original], app.name
            assert oct(app.config.stat().st_mode & 0o777) == "0o600", app.name
        assert "ScramLoginModule required" in p1.config.read_text() and "KAFKA_SASL_PASSWORD" in p2.config.read_text()
        assert "sasl.jaas.config" in new_j.config.read_text() and "spring:" in new_j.config.read_text()
        # the apps started with their own settings (printed by the apps at start)
        assert "client.id=app-p1" in p1.log.read_text().rsplit("settings:", 1)[-1].splitlines()[0]
        assert "linger.ms=7" in p1.log.read_text().rsplit("settings:", 1)[-1].splitlines()[0]
        assert "isolation.level=read_committed" in new_j.log.read_text().rsplit("settings:", 1)[-1].splitlines()[0]

        # the same run again changes nothing
        rc, again = run(inventory, extra, "consumers,producers,drain")
        assert rc == 0, again[-4000:]
        assert recap_all(again) == (0, 0), again[-4000:]

        rig.wait_written(rig.target_servers, 10)
        rig.finish([new_j.name, new_p.name])

    figures = rig.check_ledgers()
    assert figures["on_source"] > 0 and figures["on_target"] > 0
    # per-key order across the switch, in each group: every key's records processed in the order they were
    # written, all of the source's before any of the target's
    for old, new in ((old_j, new_j), (old_p, new_p)):
        processed = sorted(old.ledger() + new.ledger(), key=lambda f: int(f[6]))
        for key in set((f[0], int(f[1]) % 16) for f in processed):
            seqs = [int(f[1]) for f in processed if (f[0], int(f[1]) % 16) == key]
            assert seqs == sorted(seqs), (old.group, key)
        last_old, first_new = max(int(f[6]) for f in old.ledger()), min(int(f[6]) for f in new.ledger())
        assert last_old <= first_new, old.group
        figures[old.group]["pause_s"] = (first_new - last_old) / 1000.0
    print("ledger figures:", json.dumps(figures))


def test_a_producer_that_fails_on_the_target_is_rolled_back_and_a_rerun_resumes(clusters, unique, tmp_path):
    rig = Rig(clusters, tmp_path, unique, "switch-rollback")
    group = unique("rollback-g")
    old = rig.add("consumer-old", "consumer", "python", "properties", "librdkafka", group=group,
                  extra_args=["--offset-reset", "earliest"])
    new = rig.add("consumer-new", "consumer", "python", "properties", "librdkafka", group=group)
    prods = [rig.add(p, "producer", "python", "properties", "librdkafka", extra_args=["--first-ack-timeout", "8"])
             for p in ("p1", "p2", "p3")]
    hosts = dict(("app-%s" % p.name, [p.describe(timeout=20)]) for p in prods)
    layout = dict(consumers={"app-1": [new.describe()]}, old_consumers={"app-1": [{"services": [old.name]}]}, producers=hosts)
    # host app-p2 was given a wrong password for the target: its producer cannot write there
    bad = dict(clusters.target, sasl_password="not-the-password")
    broken = rig.inventory(host_vars={"app-p2": {"kafka_target": bad}}, clusters_in_inventory=True, **layout)
    extra = rig.extra([group], with_clusters=False)

    with rig.start_supervisor() as sup:
        sup.ctl("start", old.name, *[p.name for p in prods])
        wait_for("the old consumer to process and commit", lambda: len(old.ledger()) >= 30, 90)
        rc, out = run(broken, extra, "topics,groups")
        assert rc == 0, out[-4000:]

        rc, out = run(broken, extra, "consumers,producers,drain")
        assert rc != 0
        message = re.search(r"producers: app-p2 FAILED: .*", out)
        assert message, out[-6000:]
        text = message.group(0)
        print("rollback message:", text)
        assert "Switched (1): app-p1; failed: app-p2; not switched (1): app-p3" in text, text
        assert "p2.properties restored from the backup" in text, text
        assert "Last log lines of app-p2" in text and ("uthentication" in text or "SASL" in text), text
        assert "not-the-password" not in out and "admin-secret" not in out
        # the failed host is back on the source, byte for byte, and proven writing there again
        assert prods[1].config.read_bytes() == prods[1].original
        assert prods[2].config.read_bytes() == prods[2].original and backups(prods[2].config) == []
        assert rig.target_servers in prods[0].config.read_text()
        assert all(sup.state(p.name) == "RUNNING" for p in prods)
        assert sup.state(old.name) == "RUNNING"                     # the drain step never ran
        after_failure = len(prods[1].ledger())
        wait_for("p2 to write to the source again", lambda: sum(
            1 for f in prods[1].ledger()[after_failure:] if f[5] == rig.source_servers) >= 5, 60)

        # the fix (the right password for app-p2), the same run again: resumes where it stopped
        fixed = rig.inventory(clusters_in_inventory=True, **layout)
        rc, out = run(fixed, extra, "consumers,producers,drain")
        assert rc == 0, out[-5000:]
        assert out.count("PLAY [Step 7, move the producers to the target, host by host]") == 3
        assert re.search(r"producers on app-p1: nothing to do", out), out[-5000:]
        assert all(rig.target_servers in p.config.read_text() for p in prods)
        assert sup.state(old.name) == "STOPPED"
        rig.wait_written(rig.target_servers, 10)
        rig.finish([new.name])

    figures = rig.check_ledgers()
    print("rollback ledger figures:", json.dumps(figures))


def test_preflight_stops_a_bad_host_before_any_application_moves(clusters, unique, tmp_path):
    rig = Rig(clusters, tmp_path, unique, "switch-preflight")
    group = unique("preflight-g")
    new = rig.add("consumer-new", "consumer", "python", "properties", "librdkafka", group=group)
    p1 = rig.add("p1", "producer", "python", "env", "librdkafka")
    p2 = rig.add("p2", "producer", "python", "properties", "librdkafka")
    p2.config.write_text("# bootstrap.servers is not here: this app reads it from elsewhere\nclient.id=x\n")
    p3 = rig.add("p3", "producer", "python", "properties", "librdkafka")
    missing = dict(p3.describe(), config=dict(p3.describe()["config"], path=str(tmp_path / "nowhere.properties")))
    inventory = rig.inventory(consumers={"app-1": [new.describe()]}, old_consumers={},
                              producers={"app-p1": [p1.describe()], "app-p2": [p2.describe()], "app-p3": [missing]})
    with rig.start_supervisor() as sup:
        sup.ctl("start", p1.name)
        wait_for("p1 to write", lambda: len(p1.ledger()) >= 5, 60)
        rc, out = run(inventory, rig.extra([group]), "consumers,producers")
        assert rc != 0
        assert "PLAY [Preflight, check every application host before the first one moves]" in out
        assert "Step 6" not in out and "Step 7" not in out, out[-4000:]
        assert re.search(r"app-p2.*bootstrap\.servers", out, re.S) and "nowhere.properties" in out, out[-5000:]
        assert p1.config.read_bytes() == p1.original and backups(p1.config) == []
        assert sup.state(p1.name) == "RUNNING" and sup.state(new.name) == "STOPPED"
