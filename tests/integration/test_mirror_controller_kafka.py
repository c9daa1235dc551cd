"""kafka_mirror stops when its controller is gone, and recognises a stale progress file.

The copy runs through a real ``ansible-playbook`` (connection local) in mode follow while a
producer writes to the source; ``ansible-playbook`` is killed with SIGKILL. The module process must
exit within a bound, its progress file must say ``interrupted``, the target must stop receiving
records (end offsets stable over an observation window, measured by polling), and a resumed run
must copy the rest with no gap and no duplicate (every record compared per partition).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ansible_collections.kafkaops.migration.plugins.module_utils import mirror
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic
from ansible_collections.kafkaops.migration.plugins.modules import kafka_mirror
from tests.integration.test_mirror_kafka import Topics, make_records, produce, read_side, strip
from tests.utils.collection import collections_root
from tests.utils.modules import run_module

pytestmark = pytest.mark.kafka

STOP_BOUND = 20.0  # seconds from the kill of ansible-playbook to the module's exit (documented: ~10 s)

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Copy, following new records
      kafkaops.migration.kafka_mirror:
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        topics: ["{{ topic }}"]
        name: "{{ copy_name }}"
        offset_map_topic: "{{ map_topic }}"
        mode: follow
        duration: 300
        timeout: 400
        batch_seconds: 0.5
        progress_file: "{{ progress_file }}"
"""


@pytest.fixture
def topics(clusters):
    t = Topics(clusters)
    yield t
    t.cleanup()


def poll(what, check, timeout, step=0.1):
    """``check()`` until it returns a true value (returned); AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "%s: not within %ss" % (what, timeout)
        time.sleep(step)


def running(pid):
    """Alive and not a zombie (a killed module's shell may not have reaped it yet)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


def read_progress(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def progress_with(path, status, records=0):
    """The progress file's content when it has ``status`` and at least ``records``, else None."""
    state = read_progress(path)
    return state if state.get("status") == status and state.get("records", 0) >= records else None


def end_offsets(clusters, topic, partitions):
    c = Consumer(dict(clusters.librdkafka("target"), **{"group.id": "kafkaops-test-ends"}))
    try:
        return tuple(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        c.close()


def stable_over(what, sample, window, timeout, step=0.25):
    """Poll ``sample()`` until it returned one value for ``window`` seconds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last, since = sample(), time.monotonic()
    while time.monotonic() - since < window:
        assert time.monotonic() < deadline, "%s kept changing for %ss (last %r)" % (what, timeout, last)
        time.sleep(step)
        now = sample()
        if now != last:
            last, since = now, time.monotonic()
    return last


class Writer(threading.Thread):
    """Writes numbered, keyed records to every partition of ``topic`` on the source until stopped."""

    def __init__(self, clusters, topic, partitions):
        super().__init__(daemon=True)
        self.clusters, self.topic, self.partitions = clusters, topic, partitions
        self.stop = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        try:
            p = Producer(dict(self.clusters.librdkafka("source"), **{"linger.ms": 5, "enable.idempotence": True}))
            i = 0
            while not self.stop.is_set():
                p.produce(self.topic, b"rec-%d" % i, b"k%d" % (i % 17), partition=i % self.partitions,
                          headers=[("i", b"%d" % i)])
                i += 1
                if i % 20 == 0:
                    p.poll(0)
                    time.sleep(0.02)
            assert p.flush(30) == 0
            self.sent = i
        except Exception as exc:  # reported by the test
            self.error = exc

    def finish(self):
        self.stop.set()
        self.join(60)
        assert self.error is None, self.error
        return self.sent


def start_playbook(clusters, tmp_path, extra):
    playbook = tmp_path / "copy.yml"
    playbook.write_text(PLAYBOOK)
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(dict(extra, kafka_source=clusters.source, kafka_target=clusters.target)))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "@%s" % vars_file, str(playbook)]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    log = open(str(tmp_path / "playbook.log"), "w")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def kill_quietly(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_killing_ansible_playbook_stops_the_copy_and_a_resumed_run_completes_it(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mirc-kill"), 3)
    map_topic = unique("mirc-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(3, 200, seed=31))
    name = unique("n")
    progress = tmp_path / "progress.json"
    writer = Writer(clusters, topic, 3)
    writer.start()
    extra = {"topic": topic, "copy_name": name, "map_topic": map_topic, "progress_file": str(progress)}
    proc = start_playbook(clusters, tmp_path, extra)
    workers = []
    try:
        # The module runs and has committed live records (more than the 600 written beforehand).
        state = poll("the copy runs", lambda: progress_with(progress, "running", 601), 120, 0.2)
        module_pid = state["pid"]
        assert running(module_pid) and proc.poll() is None
        workers = children(proc.pid)  # ansible-playbook's workers (they outlive a SIGKILL of their parent)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        src_at_kill = end_offsets_source(clusters, topic, 3)
        proc.wait()
        poll("the module exits", lambda: not running(module_pid), STOP_BOUND, 0.05)
        stopped_after = time.monotonic() - killed
        final = poll("progress says interrupted", lambda: progress_with(progress, "interrupted"), 5)
        assert "gone" in final["interrupted_reason"] and "controller is gone" in final["error"]
        assert final["pid"] == module_pid and final["records"] > 0
        # The target stops receiving: end offsets stay put while the producer keeps writing to the source.
        stable_over("target end offsets", lambda: end_offsets(clusters, topic, 3), window=4.0, timeout=30)
        src_now = end_offsets_source(clusters, topic, 3)
        assert all(now > then for now, then in zip(src_now, src_at_kill))  # the source went on growing
        # What the progress file says was committed is what the target holds (read_committed).
        tgt = read_side(clusters, "target", topic, 3)
        committed = dict((p["partition"], p["next"]) for p in final["partitions"])
        assert [len(tgt[p]) for p in range(3)] == [committed[p] for p in range(3)]  # source offsets start at 0
        print("module stopped %.2fs after the kill of ansible-playbook (%s); %d records committed"
              % (stopped_after, final["interrupted_reason"], final["records"]))
    finally:
        sent = writer.finish()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The workers end once their module ended (bounded); the test kills any left over, by pid.
    leftover = [w for w in workers if running(w)]
    try:
        poll("ansible-playbook workers end", lambda: not any(running(w) for w in leftover), 20, 0.2)
    finally:
        kill_quietly([w for w in leftover if running(w)])
    # Resume: the rest is copied, no gap, no duplicate.
    res = mirror.run_mirror(mirror.params_with_defaults(dict(offset_map_topic=map_topic, topics=[topic], name=name,
                                                             progress_file=str(progress))),
                            Cluster(clusters.source, "source"), Cluster(clusters.target, "target"))
    assert res["status"] == "done" and res["stale_progress"] is None
    assert all(p["resumed"] for p in res["partitions"])
    src = read_side(clusters, "source", topic, 3)
    tgt = read_side(clusters, "target", topic, 3)
    for p in range(3):
        assert strip(tgt[p]) == strip(src[p]), "partition %d differs" % p
    assert sum(len(v) for v in tgt.values()) == 600 + sent
    live = [r[2] for p in tgt for r in tgt[p] if r[2] and r[2].startswith(b"rec-")]
    assert sorted(live) == sorted(b"rec-%d" % i for i in range(sent))  # each live record once
    omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
    for p in range(3):
        for s, t in zip(src[p], tgt[p]):
            assert omap.translate(topic, p, s[0]) == (t[0], "mapped")


def end_offsets_source(clusters, topic, partitions):
    c = Consumer(dict(clusters.librdkafka("source"), **{"group.id": "kafkaops-test-ends"}))
    try:
        return tuple(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        c.close()


def test_closing_stdin_of_the_cli_copier_stops_it(clusters, topics, unique, tmp_path):
    """Run outside Ansible with stdin an open pipe (a supervisor's): closing it stops the copy."""
    topic = topics.both(unique("mirc-stdin"), 2)
    map_topic = unique("mirc-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(2, 50, seed=32))
    progress = tmp_path / "p.json"
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps(dict(source=clusters.source, target=clusters.target, timeout=300, topics=[topic],
                                    name=unique("n"), offset_map_topic=map_topic, mode="follow", duration=200,
                                    batch_seconds=0.5, progress_file=str(progress))))
    code = ("import sys; from ansible_collections.kafkaops.migration.plugins.module_utils.mirror import cli_main; "
            "sys.exit(cli_main())")
    proc = subprocess.Popen([sys.executable, "-c", code, str(conf)], env=dict(os.environ, PYTHONPATH=collections_root()),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        poll("the copy runs", lambda: read_progress(progress).get("records") == 100, 120, 0.2)
        proc.stdin.close()
        closed = time.monotonic()
        proc.wait(STOP_BOUND)
        assert time.monotonic() - closed < STOP_BOUND
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "interrupted" and result["interrupted"] is True
    assert result["interrupted_reason"] in ("stdin was closed", "stdin reached EOF")
    assert result["records"] == 100
    assert read_progress(progress)["status"] == "interrupted"


def test_stale_running_progress_file_is_reported_and_replaced(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mirc-stale"), 1)
    map_topic = unique("mirc-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(1, 30, seed=33))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    progress = tmp_path / "p.json"
    left = {"status": "running", "pid": dead.pid, "host": os.uname()[1], "started": 1700000000, "updated": 1700000100,
            "records": 12, "name": "old"}
    progress.write_text(json.dumps(left))
    args = dict(source=clusters.source, target=clusters.target, offset_map_topic=map_topic, topics=[topic],
                name=unique("n"), progress_file=str(progress), timeout=120)
    check = run_module(kafka_mirror, args, check_mode=True)
    assert check["stale_progress"]["pid"] == dead.pid and check["stale_progress"]["records"] == 12
    assert json.loads(progress.read_text()) == left  # check mode replaces nothing
    res = run_module(kafka_mirror, args)
    assert res["stale_progress"] == {k: left[k] for k in ("pid", "host", "started", "updated", "records", "name")}
    assert any("no longer exists" in w and "stale" in w for w in res["warnings"])
    now = json.loads(progress.read_text())
    assert now["status"] == "done" and now["pid"] == os.getpid() and now["records"] == 30
    # A file a live copier still writes is refused, nothing changed.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = dict(left, pid=live.pid, process_start=mirror.process_start(live.pid))
        progress.write_text(json.dumps(busy))
        with pytest.raises(KafkaOpsError) as err:
            mirror.run_mirror(mirror.params_with_defaults(dict(offset_map_topic=map_topic, topics=[topic], name=res["name"],
                                                               progress_file=str(progress))),
                              Cluster(clusters.source, "source"), Cluster(clusters.target, "target"))
        assert "being written by a running copier (pid %d" % live.pid in err.value.msg
        assert json.loads(progress.read_text()) == busy
    finally:
        live.kill()
        live.wait()
