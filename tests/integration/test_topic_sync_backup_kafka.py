"""kafka_topic_sync against the real clusters: backup topics (target_prefix / target_suffix), the
cluster-identity check, target-name validation and the unmatched-include warning.

Each module run is in-process (tests/utils/modules.py); what it did is verified on the clusters with
plain AdminClients. Presence is polled (bounded) until the brokers show it; absence is asked of the
controller itself (a ``validate_only`` create of the name answers TOPIC_ALREADY_EXISTS when the topic
exists, whichever broker's metadata is behind), so a "nothing was created" never races the metadata.
"""

import time

import pytest
from ansible.module_utils.common.warnings import get_warning_messages
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_topic_sync
from tests.utils.modules import FailJson, run_module

pytestmark = pytest.mark.kafka

SAME_CLUSTER = "the source and the target are the same cluster"


def poll(check, seconds=30):
    """``check()`` until it is truthy or ``seconds`` passed (backoff 0.1 s to 1 s); its last value."""
    end, pause = time.monotonic() + seconds, 0.1
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


class Side:
    """A plain AdminClient on one cluster."""

    def __init__(self, conf):
        self.admin = AdminClient(conf)

    def create(self, specs):
        """specs: {name: (partitions, rf, {config})}; returns once the metadata shows them all."""
        futs = self.admin.create_topics([NewTopic(n, p, r, config=c) for n, (p, r, c) in specs.items()],
                                        operation_timeout=20, request_timeout=30)
        for fut in futs.values():
            fut.result(timeout=30)
        assert poll(lambda: all(self.partitions(n) == spec[0] for n, spec in specs.items())), specs

    def add_partitions(self, name, total):
        for fut in self.admin.create_partitions([NewPartitions(name, total)], operation_timeout=20,
                                                request_timeout=30).values():
            fut.result(timeout=30)
        assert poll(lambda: self.partitions(name) == total), name

    def names(self, prefix):
        return sorted(n for n in self.admin.list_topics(timeout=10).topics if n.startswith(prefix))

    def partitions(self, name):
        md = self.admin.list_topics(timeout=10).topics.get(name)
        return len(md.partitions) if md is not None and md.error is None else 0

    def rf(self, name):
        t = self.admin.list_topics(timeout=10).topics.get(name)
        return max([len(p.replicas) for p in t.partitions.values()] or [0]) if t is not None and t.error is None else 0

    def overrides(self, name):
        res = ConfigResource("topic", name)
        try:
            entries = self.admin.describe_configs([res])[res].result(timeout=20)
        except KafkaException:  # a broker that does not know the topic yet
            return None
        return dict((k, e.value) for k, e in entries.items() if e.source == 1)

    def set_config(self, name, key, value):
        entry = ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        res = ConfigResource("topic", name, incremental_configs=[entry])
        self.admin.incremental_alter_configs([res])[res].result(timeout=20)
        assert poll(lambda: (self.overrides(name) or {}).get(key) == value), (name, key)

    def absent(self, names):
        """True when none of ``names`` exists, asked of the controller (validate-only creates)."""
        futs = self.admin.create_topics([NewTopic(n, 1, 1) for n in names], validate_only=True,
                                        operation_timeout=20, request_timeout=30)
        existing = []
        for name, fut in futs.items():
            try:
                fut.result(timeout=30)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
                existing.append(name)
        assert not existing, "exist: %s" % existing
        return True

    def cleanup(self, prefixes):
        names = sorted(set(n for p in prefixes for n in self.names(p)))
        if names:
            for fut in self.admin.delete_topics(names, operation_timeout=20).values():
                try:
                    fut.result(timeout=30)
                except Exception:  # noqa: BLE001 - best effort
                    pass


@pytest.fixture
def sides(clusters, unique):
    prefix = unique("tsbk")
    source, target = Side(clusters.librdkafka("source")), Side(clusters.librdkafka("target"))
    yield prefix, source, target
    # the backup names put a text before the prefix: delete every topic that contains it
    for side in (source, target):
        side.cleanup([prefix, "bk." + prefix])


def module_args(clusters, prefix, **kw):
    args = {"source": clusters.source, "target": clusters.target, "include": [prefix + r"\..*"], "timeout": 60}
    args.update(kw)
    return args


def test_one_cluster_under_two_spellings_is_refused_and_nothing_is_created(clusters, sides):
    prefix, source, target = sides
    source.create({prefix + ".orders": (2, 1, {})})
    # the source's first broker, spelled localhost instead of 127.0.0.1
    first = clusters.source["bootstrap_servers"][0]
    host, port = first.rsplit(":", 1)
    assert host == "127.0.0.1"
    alias = dict(clusters.source, bootstrap_servers=["localhost:" + port])
    for check_mode in (True, False):
        with pytest.raises(FailJson) as err:
            run_module(kafka_topic_sync, module_args(clusters, prefix, target=alias, target_prefix="bk."),
                       check_mode=check_mode)
        res = err.value.result
        assert SAME_CLUSTER in res["msg"] and "nothing was read or written" in res["msg"]
        assert res["changed"] is False and res.get("cluster_id")
        assert "created" not in res    # failed before any plan
    # the backup topic that a sync onto itself would have made does not exist on that cluster
    assert source.absent(["bk." + prefix + ".orders"])
    # the real target, the same options: accepted (check mode, nothing created there either)
    res = run_module(kafka_topic_sync, module_args(clusters, prefix, target_prefix="bk."), check_mode=True)
    assert res["created"] == ["bk." + prefix + ".orders"]
    assert target.absent(["bk." + prefix + ".orders", prefix + ".orders"])


def test_backup_topics_with_prefix_check_real_idempotent(clusters, sides):
    prefix, source, target = sides
    orders, logs = prefix + ".orders", prefix + ".logs"
    bk_orders, bk_logs = "bk." + orders, "bk." + logs
    source.create({
        orders: (6, 3, {"retention.ms": "86400000", "cleanup.policy": "compact", "min.insync.replicas": "2"}),
        logs: (2, 1, {"max.message.bytes": "2000000"}),
    })
    args = module_args(clusters, prefix, target_prefix="bk.")

    # check mode: changed, the renamed plan and diff, nothing on the target
    res = run_module(kafka_topic_sync, args, check_mode=True, diff=True)
    assert res["changed"] is True and res["failed_topics"] == {}
    assert res["topic_map"] == {orders: bk_orders, logs: bk_logs}
    assert res["created"] == [bk_logs, bk_orders]
    assert res["planned"]["create"][bk_orders] == {
        "partitions": 6, "replication_factor": 2,
        "configs": {"retention.ms": "86400000", "cleanup.policy": "compact", "min.insync.replicas": "2"}}
    assert res["diff"]["before"][bk_orders] == {"state": "absent"}
    assert res["diff"]["after"][bk_orders]["source_topic"] == orders
    assert res["unmatched_include"] == []
    assert target.absent([bk_orders, bk_logs, orders, logs])

    # for real: bk.<name> with the source's partitions, mapped RF and configs; no same-named topic
    res = run_module(kafka_topic_sync, args, diff=True)
    assert res["changed"] is True and res["failed_topics"] == {}
    assert res["created"] == [bk_logs, bk_orders] and res["topic_map"] == {orders: bk_orders, logs: bk_logs}
    assert "not_ready" not in res
    assert poll(lambda: target.partitions(bk_orders) == 6 and target.partitions(bk_logs) == 2)
    assert poll(lambda: target.rf(bk_orders) == 2 and target.rf(bk_logs) == 1)
    assert poll(lambda: target.overrides(bk_orders)) == {
        "retention.ms": "86400000", "cleanup.policy": "compact", "min.insync.replicas": "2"}
    assert poll(lambda: target.overrides(bk_logs)) == {"max.message.bytes": "2000000"}
    assert target.absent([orders, logs])

    # again: nothing to do, in check mode and for real
    for check_mode in (True, False):
        res = run_module(kafka_topic_sync, args, check_mode=check_mode, diff=True)
        assert res["changed"] is False, res
        assert res["created"] == [] and res["expanded"] == [] and res["drift"] == {} and "diff" not in res
        assert res["summary"]["unchanged"] == 2 and res["topic_map"] == {orders: bk_orders, logs: bk_logs}


def test_backup_topics_expand_and_drift_by_their_renamed_name(clusters, sides):
    prefix, source, target = sides
    orders, logs = prefix + ".orders", prefix + ".logs"
    bk_orders, bk_logs = orders + ".bk", logs + ".bk"
    source.create({orders: (2, 2, {"retention.ms": "3600000"}), logs: (1, 1, {})})
    # the target has the live same-named topic (another partition count and config) beside the backups
    target.create({orders: (1, 1, {"retention.ms": "60000"})})
    args = module_args(clusters, prefix, target_suffix=".bk")
    res = run_module(kafka_topic_sync, args)
    assert res["created"] == [bk_logs, bk_orders]
    assert poll(lambda: target.partitions(bk_orders) == 2)

    # the source grows and a backup's config drifts: only the backups are compared and changed
    source.add_partitions(logs, 3)
    target.set_config(bk_orders, "retention.ms", "7200000")
    res = run_module(kafka_topic_sync, args, check_mode=True, diff=True)
    assert res["changed"] is True and res["expanded"] == [bk_logs] and res["created"] == []
    assert res["diff"] == {"before": {bk_logs: {"state": "present", "partitions": 1}},
                           "after": {bk_logs: {"state": "present", "partitions": 3}}}
    assert res["drift"] == {bk_orders: {"configs": {"retention.ms": {"source": "3600000", "target": "7200000"}}}}
    assert target.partitions(bk_logs) == 1

    res = run_module(kafka_topic_sync, dict(args, align_configs=True))
    assert res["changed"] is True and res["expanded"] == [bk_logs] and res["altered"] == [bk_orders]
    assert poll(lambda: target.partitions(bk_logs) == 3)
    assert poll(lambda: (target.overrides(bk_orders) or {}).get("retention.ms") == "3600000")
    # the live topic was not touched
    assert target.partitions(orders) == 1 and poll(lambda: target.overrides(orders)) == {"retention.ms": "60000"}

    res = run_module(kafka_topic_sync, dict(args, align_configs=True))
    assert res["changed"] is False and res["drift"] == {}


def test_bad_target_names_are_refused_before_any_change(clusters, sides):
    prefix, source, target = sides
    orders, nested = prefix + ".orders", prefix + "." + prefix + ".orders"
    source.create({orders: (1, 1, {}), nested: (1, 1, {})})

    # prefix "<prefix>." turns <prefix>.orders into <prefix>.<prefix>.orders: another source topic's name
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, target_prefix=prefix + "."))
    res = err.value.result
    assert "nothing was changed on the target" in res["msg"] and res["changed"] is False
    assert list(res["invalid"]) == [orders]
    assert "collides with the source topic %r" % nested in res["invalid"][orders]

    # a target name of 250 characters
    too_long = "x" * (250 - len(orders))
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, target_prefix=too_long, include=[orders]))
    res = err.value.result
    assert list(res["invalid"]) == [orders] and "250 characters, Kafka allows 249" in res["invalid"][orders]
    assert orders in res["msg"]

    # an illegal character, refused before connecting
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, target_suffix="/bk"))
    assert "target_suffix: '/bk' would make illegal Kafka topic names" in err.value.result["msg"]

    # (too_long + orders cannot exist: Kafka itself refuses a 250-character name)
    assert target.absent([orders, nested, prefix + "." + nested])


def test_include_matching_no_source_topic_warns_and_does_not_fail(clusters, sides):
    prefix, source, target = sides
    source.create({prefix + ".a": (1, 1, {})})
    missing = prefix + r"\.gone-.*"
    seen = len(get_warning_messages())
    res = run_module(kafka_topic_sync, module_args(clusters, prefix, include=[prefix + r"\..*", missing]),
                     check_mode=True)
    assert res["unmatched_include"] == [missing]
    assert res["created"] == [prefix + ".a"]
    new = get_warning_messages()[seen:]
    assert any("matching no source topic" in w and repr(missing) in w for w in new), new
    assert target.absent([prefix + ".a"])


PLAYBOOK = """
- name: Backup topics through ansible-playbook
  hosts: localhost
  gather_facts: false
  vars:
    sync_args: &sync_args
      source: "{{ kafka_source }}"
      target: "{{ kafka_target }}"
      include: ["{{ prefix }}\\\\..*", "{{ prefix }}-gone"]
      target_prefix: bk.
  tasks:
    - name: Preview
      kafkaops.migration.kafka_topic_sync: *sync_args
      check_mode: true
      diff: true
      register: preview
    - name: Sync
      kafkaops.migration.kafka_topic_sync: *sync_args
      register: real
    - name: Again
      kafkaops.migration.kafka_topic_sync: *sync_args
      register: again
    - name: Results as Ansible sees them
      ansible.builtin.assert:
        that:
          - preview is changed and preview is not skipped
          - "preview.topic_map == {prefix ~ '.pb': 'bk.' ~ prefix ~ '.pb'}"
          - preview.unmatched_include == [prefix ~ '-gone']
          - preview.warnings | select('search', 'matching no source topic') | list | length == 1
          - real is changed and real.created == ['bk.' ~ prefix ~ '.pb']
          - again is not changed and again.created == [] and again.summary.unchanged == 1
"""


def test_playbook_backup_topics_recap(clusters, sides, tmp_path):
    from tests.utils.playbook import run_playbook
    prefix, source, target = sides
    source.create({prefix + ".pb": (3, 1, {"retention.ms": "120000"})})
    book = tmp_path / "backup.yml"
    book.write_text(PLAYBOOK)
    rc, out = run_playbook(str(book), {"prefix": prefix, "kafka_source": clusters.source, "kafka_target": clusters.target})
    assert rc == 0, out[-3000:]
    # the recap counts the preview and the real run as changed, the third run not
    assert "ok=4" in out and "changed=2" in out and "failed=0" in out and "skipped=0" in out, out[-1500:]
    assert poll(lambda: target.partitions("bk." + prefix + ".pb") == 3)
    assert target.absent([prefix + ".pb"])
