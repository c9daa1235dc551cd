"""The built-in copy engine's pure logic: selection, option checks, resume points, reports (no Kafka)."""

import json

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba
from ansible_collections.kafkaops.migration.plugins.module_utils import mirror as m
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import OffsetMap, progress_record

AVAILABLE = ["orders", "orders.eu", "orders.us", "payments", "__consumer_offsets", "kafkaops.mirror.offsets",
             "orders-dlq", "_schemas", "connect-offsets", "heartbeats", "my-map", "mm2-offset-syncs.target.internal"]


def _select(**kw):
    return m.select_topics(AVAILABLE, m.params_with_defaults(kw))


def test_select_names_and_full_match_patterns():
    sel, missing, unmatched = _select(topics=["payments"], include=[r"orders\.[a-z]+"])
    assert sel == ["orders.eu", "orders.us", "payments"]
    assert missing == [] and unmatched == []


def test_include_everything_selects_no_internal_topic_and_not_the_offset_map():
    sel = _select(include=[".*"], offset_map_topic="my-map")[0]
    assert sel == ["orders", "orders-dlq", "orders.eu", "orders.us", "payments"]
    for internal in ("__consumer_offsets", "_schemas", "connect-offsets", "heartbeats", "my-map",
                     "kafkaops.mirror.offsets", "mm2-offset-syncs.target.internal"):
        assert internal not in sel


@pytest.mark.parametrize("name", ["__consumer_offsets", "_schemas", "connect-offsets", "heartbeats",
                                  "kafkaops.mirror.offsets"])
def test_an_exact_internal_name_is_refused_not_copied(name):
    with pytest.raises(KafkaOpsError) as err:
        m.check_params(m.params_with_defaults({"topics": ["orders", name]}))
    assert "%s is an internal topic" % name in err.value.msg and "never copied" in err.value.msg


def test_the_configured_map_topic_is_refused_by_name():
    with pytest.raises(KafkaOpsError) as err:
        m.check_params(m.params_with_defaults({"topics": ["my-map"], "offset_map_topic": "my-map"}))
    assert "offset map" in err.value.msg


def test_excludes_and_missing_names():
    sel, missing, unmatched = _select(topics=["nope", "orders"], include=["orders.*", "zzz.*"],
                                      exclude=[r".*-dlq", r"orders\.us"])
    assert sel == ["orders", "orders.eu"]
    assert missing == ["nope"]
    assert unmatched == ["zzz.*"]


def test_pattern_must_match_whole_name():
    assert _select(include=["orders"])[0] == ["orders"]
    assert _select(include=["order"])[0] == []


def test_old_option_names_are_aliases_in_the_core_too():
    p = m.params_with_defaults({"topic_patterns": ["orders"], "exclude_patterns": ["x"]})
    assert p["include"] == ["orders"] and p["exclude"] == ["x"]
    assert "topic_patterns" not in p and "exclude_patterns" not in p
    assert m.params_with_defaults({"include": ["a"], "topic_patterns": ["b"]})["include"] == ["a"]


def test_module_spec_lists_the_aliases():
    assert m.MIRROR_OPTION_SPEC["include"]["aliases"] == ["topic_patterns"]
    assert m.MIRROR_OPTION_SPEC["exclude"]["aliases"] == ["exclude_patterns"]
    assert m.MIRROR_OPTION_SPEC["target_prefix"] == {"type": "str", "default": ""}
    assert m.MIRROR_OPTION_SPEC["target_suffix"] == {"type": "str", "default": ""}


def test_target_names_use_prefix_and_suffix():
    p = m.params_with_defaults({"topics": ["a"], "target_prefix": "source.", "target_suffix": ".bak"})
    assert m.target_names(p, ["orders", "x"]) == {"orders": "source.orders.bak", "x": "source.x.bak"}
    assert m.target_names(m.params_with_defaults({}), ["orders"]) == {"orders": "orders"}


def test_defaults_are_filled_and_given_values_kept():
    p = m.params_with_defaults({"topics": ["a"], "mode": "follow", "duration": None, "extra": None})
    assert p["topics"] == ["a"] and p["mode"] == "follow"
    assert p["duration"] == 60.0 and p["name"] == "default"
    assert p["offset_map_topic"] is None          # the target decides: alibaba.map_topic_for
    assert "extra" in p


def test_offset_map_topic_default_follows_the_target():
    from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba
    kafka = {"bootstrap_servers": "k:9092"}
    ali = dict(kafka, api="alibaba", alibaba={"region_id": "cn-hangzhou"})
    assert alibaba.map_topic_for(kafka) == "kafkaops.mirror.offsets"
    assert alibaba.map_topic_for(ali) == "kafkaops_mirror_offsets"
    assert alibaba.map_topic_for(ali, "my_map") == "my_map"
    assert alibaba.name_problem(alibaba.map_topic_for(ali)) is None          # the instance takes it
    for name in ("kafkaops.mirror.offsets", "kafkaops_mirror_offsets"):    # never selected for a copy
        assert m.internal_kind(name) is not None


@pytest.mark.parametrize("change,fragment", [
    ({"name": "has space"}, "name must be"),
    ({"name": ""}, "name must be"),
    ({"topics": []}, "nothing is selected"),
    ({"topics": [], "include": []}, "nothing is selected"),
    ({"include": ["("]}, "not a valid regular expression"),
    ({"topic_patterns": ["("]}, "include"),
    ({"exclude_patterns": ["[a-"]}, "exclude"),
    ({"target_prefix": "a b"}, "target_prefix must be"),
    ({"target_suffix": "x:y"}, "target_suffix must be"),
    ({"batch_records": 0}, "batch_records must be positive"),
    ({"batch_bytes": -1}, "batch_bytes must be positive"),
    ({"batch_seconds": 0}, "batch_seconds must be positive"),
    ({"mode": "follow", "duration": 0}, "duration must be positive"),
    ({"mode": "until_lag", "max_lag": -1}, "max_lag"),
    ({"mode": "sometimes"}, "mode must be one of"),
    ({"offset_map_topic": ""}, "offset_map_topic"),
])
def test_bad_options_are_refused(change, fragment):
    p = m.params_with_defaults(dict({"topics": ["a"]}, **change))
    with pytest.raises(KafkaOpsError) as err:
        m.check_params(p)
    assert fragment in err.value.msg


def test_good_options_pass():
    m.check_params(m.params_with_defaults({"topic_patterns": [".*"], "name": "backup-1.eu_x"}))
    m.check_params(m.params_with_defaults({"topics": ["a"], "include": [], "target_prefix": "source.", "target_suffix": "-bak"}))


def _plan(parts, prefix=""):
    plan = m.Plan()
    plan.topics = sorted(set(part[0] for part in parts))
    plan.target_topics = dict((t, prefix + t) for t in plan.topics)
    plan.map_exists = True
    for topic, p, low, end in parts:
        st = m.PartitionState(topic, p, prefix + topic)
        st.low, st.end = low, end
        plan.partitions[(topic, p)] = st
    return plan


def _omap(*records, **kw):
    omap = OffsetMap()
    for topic, part, pairs, s_next, t_next in records:
        omap.add_record(progress_record(topic, part, pairs, s_next, t_next, target_topic=kw.get("target"))[1])
    return omap


def test_one_offset_map_holds_one_target_layout():
    omap = _omap(("a", 0, [(0, 0)], 1, 1))  # a was copied into a
    plan = _plan([("a", 0, 0, 10), ("b", 0, 0, 5)], prefix="bk.")
    with pytest.raises(KafkaOpsError) as err:
        m.apply_resume_points(plan, omap, "the-map")
    assert "offset map the-map already records a copied into a, this run would copy it into bk.a" in err.value.msg
    assert err.value.details["layout_conflicts"] == {"a": {"recorded": "a", "requested": "bk.a"}}
    same = _plan([("a", 0, 0, 10)], prefix="bk.")
    m.apply_resume_points(same, _omap(("a", 0, [(0, 0)], 1, 1), target="bk.a"))
    assert same.partitions[("a", 0)].start == 1
    assert same.partitions[("a", 0)].to_dict()["target_topic"] == "bk.a"


def test_resume_points_come_from_the_map_or_the_log_start():
    plan = _plan([("a", 0, 0, 100), ("a", 1, 5, 50), ("b", 0, 0, 0)])
    omap = _omap(("a", 0, [(0, 0), (1, 1)], 2, 2), ("a", 0, [(2, 3), (3, 4)], 40, 5))
    m.apply_resume_points(plan, omap)
    a0, a1, b0 = plan.partitions[("a", 0)], plan.partitions[("a", 1)], plan.partitions[("b", 0)]
    assert (a0.start, a0.resumed, a0.lag()) == (40, True, 60)
    assert (a1.start, a1.resumed, a1.lag()) == (5, False, 45)
    assert b0.done and b0.lag() == 0
    assert plan.pending() == 105


def test_resume_below_log_start_is_a_gap_and_fails():
    plan = _plan([("a", 0, 500, 900)])
    omap = _omap(("a", 0, [(0, 0)], 100, 1))
    with pytest.raises(KafkaOpsError) as err:
        m.apply_resume_points(plan, omap)
    assert "resumes at offset 100 but the source log now starts at 500" in err.value.msg


def test_check_mode_result_counts_pending_and_partitions():
    plan = _plan([("a", 0, 0, 10), ("a", 1, 0, 0), ("b", 0, 0, 7)])
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a", "b"]}), OffsetMap())
    assert res["records"] == 17 and res["partitions_to_copy"] == 2 and res["changed"] is True
    assert res["status"] == "check_mode"
    diff = m.diff_of(res)
    assert diff == {"before": {"a:0": 0, "a:1": 0, "b:0": 0}, "after": {"a:0": 10, "a:1": 0, "b:0": 7}}


def test_check_mode_nothing_to_do_is_unchanged():
    plan = _plan([("a", 0, 0, 10)])
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a"]}), _omap(("a", 0, [(9, 9)], 10, 10)))
    assert res["records"] == 0 and res["changed"] is False


def test_partition_lag_never_negative_and_unknown_without_end():
    st = m.PartitionState("a", 0)
    assert st.lag() is None
    st.next, st.end = 12, 10
    assert st.lag() == 0
    assert st.lag(end=20) == 8
    assert st.to_dict()["lag"] == 0


def test_transactional_id_is_stable_per_name():
    assert m.transactional_id("backup") == "kafkaops-mirror-backup"


def test_progress_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "p.json"
    m.write_json_atomically(str(path), {"records": 1})
    m.write_json_atomically(str(path), {"records": 2})
    assert json.loads(path.read_text()) == {"records": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_cli_usage(capsys):
    assert m.cli_main(["prog"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cli_reports_bad_options_as_json(tmp_path, capsys):
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"source": {"bootstrap_servers": ["nohost"]}, "target": {"bootstrap_servers": ["a:1"]},
                                "topics": ["x"]}))
    assert m.cli_main(["prog", str(conf)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is True and "is not host:port" in out["msg"]


def test_check_mode_result_names_target_topics_and_missing_ones():
    plan = _plan([("a", 0, 0, 3)], prefix="bk.")
    plan.missing_target_topics = ["bk.a"]
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a"], "target_prefix": "bk."}), OffsetMap())
    assert res["target_topics"] == {"a": "bk.a"} and res["missing_target_topics"] == ["bk.a"]
    assert res["target_prefix"] == "bk." and res["records"] == 3


# -- the controller --------------------------------------------------------------------------------
# A child process that watches its controller and prints why it is gone. Real processes, no mocks.
WATCHER = r"""
import sys, time
sys.path[:0] = %r
from ansible_collections.kafkaops.migration.plugins.module_utils.mirror import ControllerWatch
w = ControllerWatch()
print("ready %%d %%s" %% (len(w.chain), w.watch_stdin), flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < 30:
    why = w.gone()
    if why:
        print("gone", why, flush=True)
        sys.exit(3)
    time.sleep(0.05)
print("timeout", flush=True)
"""

# The shape ansible-playbook gives a module (connection local): main -> worker (its own session)
# -> sh -> module. Here: "main" (python) -> "worker" (python, new session) -> sh -> watcher.
MAIN = r"""
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", %r], start_new_session=True, stdin=subprocess.DEVNULL)
print(worker.pid, flush=True)
time.sleep(60)
"""
WORKER = r"""
import subprocess, sys, time
out = open(%r, "w")
p = subprocess.Popen(["/bin/sh", "-c", %r], stdin=subprocess.PIPE, stdout=out, stderr=out)
p.stdin.close()   # what Ansible's local connection does: stdin is a pipe closed at once
p.wait()
time.sleep(5)
"""


def _watcher_code():
    import sys as _sys
    return WATCHER % (list(_sys.path),)


def _wait_line(read, prefix, timeout=20):
    import time as _time
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        text = read()
        for line in text.splitlines():
            if line.startswith(prefix):
                return line
        _time.sleep(0.05)
    raise AssertionError("no %r line within %ss: %r" % (prefix, timeout, read()))


def test_watch_sees_the_parent_die(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    script = tmp_path / "w.py"
    script.write_text(_watcher_code())
    out = tmp_path / "out.txt"
    # parent (python) -> watcher; killing the parent re-parents the watcher (getppid changes)
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, %r], stdout=open(%r, 'w'), stdin=subprocess.DEVNULL); "
                               "time.sleep(60)" % (str(script), str(out))])
    try:
        _wait_line(lambda: out.read_text() if out.exists() else "", "ready")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        line = _wait_line(out.read_text, "gone", timeout=10)
        assert "the parent process %d is gone" % parent.pid in line
    finally:
        if parent.poll() is None:
            parent.kill()


def test_watch_sees_the_controller_of_a_session_leader_die(tmp_path):
    """The module's own parent never changes when ansible-playbook is killed: its worker is re-parented."""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    script = tmp_path / "w.py"
    script.write_text(_watcher_code())
    out = tmp_path / "out.txt"
    worker = WORKER % (str(out), "%s %s; true" % (shlex.quote(sys.executable), shlex.quote(str(script))))
    main = subprocess.Popen([sys.executable, "-c", MAIN % worker], stdout=subprocess.PIPE, text=True)
    worker_pid = int(main.stdout.readline())
    try:
        ready = _wait_line(lambda: out.read_text() if out.exists() else "", "ready")
        assert int(ready.split()[1]) >= 3 and ready.split()[2] == "False"  # watcher, sh, worker; stdin not watched
        os.kill(main.pid, signal.SIGKILL)
        main.wait()
        line = _wait_line(out.read_text, "gone", timeout=10)
        assert "the parent %d of process %d" % (main.pid, worker_pid) in line
    finally:
        for pid in (main.pid, worker_pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_watch_sees_an_open_stdin_pipe_closed(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "w.py"
    script.write_text(_watcher_code())
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("ready") and ready.split()[2] == "True"
        proc.stdin.close()
        line = proc.stdout.readline()
        assert line.startswith("gone stdin"), line
        assert proc.wait(10) == 3
    finally:
        if proc.poll() is None:
            proc.kill()


def test_watch_is_quiet_while_the_controller_is_there():
    w = m.ControllerWatch()
    assert w.gone() is None
    assert w.chain and w.chain[0][0] == __import__("os").getpid()


# -- the progress file -----------------------------------------------------------------------------
def _dead_pid():
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_running_file_of_a_dead_process_is_stale(tmp_path):
    import socket
    path = tmp_path / "p.json"
    pid = _dead_pid()
    path.write_text(json.dumps({"status": "running", "pid": pid, "host": socket.gethostname(), "records": 7,
                                "started": 1, "updated": 2, "name": "x"}))
    stale, warning = m.stale_progress(str(path))
    assert stale == {"pid": pid, "host": socket.gethostname(), "started": 1, "updated": 2, "records": 7, "name": "x"}
    assert "no longer exists" in warning and "stale" in warning and str(pid) in warning


def test_running_file_of_a_reused_pid_is_stale(tmp_path):
    import os
    path = tmp_path / "p.json"
    parent = os.getppid()  # alive, but not the process that wrote the file (other start time)
    path.write_text(json.dumps({"status": "running", "pid": parent, "process_start": -1}))
    assert m.stale_progress(str(path))[0]["pid"] == parent


def test_running_file_of_a_live_copier_is_refused(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "p.json"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(json.dumps({"status": "running", "pid": live.pid, "process_start": m.process_start(live.pid),
                                    "name": "other"}))
        with pytest.raises(KafkaOpsError) as err:
            m.stale_progress(str(path))
        assert "being written by a running copier (pid %d, copy other)" % live.pid in err.value.msg
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("content", [None, "not json", {"status": "done", "pid": 1}, {"status": "interrupted"}])
def test_other_progress_files_are_not_stale(tmp_path, content):
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert m.stale_progress(str(path)) == (None, None)
    assert m.stale_progress(None) == (None, None)


def test_a_map_mixing_two_target_topics_for_one_partition_is_refused_when_read():
    from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import TranslationError
    omap = _omap(("a", 0, [(0, 0)], 1, 1))
    with pytest.raises(TranslationError) as err:
        omap.add_record(progress_record("a", 0, [(1, 5)], 2, 6, target_topic="bk.a")[1])
    assert "copied into two target topics (a and bk.a)" in str(err.value)


# -- target names: the rename map, the default rule, an Alibaba target's name rule ------------------
def _alibaba_target(name_rule="strict"):
    from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
    return Cluster({"bootstrap_servers": ["127.0.0.1:9"], "api": "alibaba",
                    "alibaba": {"region_id": "cn-hangzhou", "instance_id": "i-1", "name_rule": name_rule}}, "target")


def test_module_spec_has_rename_and_rename_rule():
    assert m.MIRROR_OPTION_SPEC["rename"] == {"type": "dict", "default": {}}
    assert m.MIRROR_OPTION_SPEC["rename_rule"] == {"type": "str", "default": "underscore", "choices": ["underscore", "refuse"]}
    p = m.params_with_defaults({"topics": ["a"]})
    assert p["rename"] == {} and p["rename_rule"] == "underscore"


def test_target_names_apply_the_rename_map_before_prefix_and_suffix():
    p = m.params_with_defaults({"topics": ["a"], "rename": {"orders.v1": "orders-v1"}, "target_prefix": "bk.", "target_suffix": ".x"})
    assert m.target_names(p, ["orders.v1", "payments"]) == {"orders.v1": "bk.orders-v1.x", "payments": "bk.payments.x"}
    assert m.topic_names(p).renamed(["orders.v1", "payments"]) == {"orders.v1": "orders-v1"}


def test_a_kafka_target_keeps_every_name_the_map_does_not_cover():
    p = m.params_with_defaults({"topics": ["a"], "rename_rule": "refuse"})
    names = m.topic_names(p, target=None)
    assert names.name_rule is None
    assert m.target_names(p, ["orders.v1"]) == {"orders.v1": "orders.v1"}
    assert names.problems(["orders.v1"], ["orders.v1"]) == {}
    assert alibaba.name_rule_of(None) is None


def test_an_alibaba_target_renames_refused_characters_by_the_default_rule():
    target = _alibaba_target("strict")
    assert alibaba.name_rule_of(target) == "strict"
    p = m.params_with_defaults({"topics": ["a"], "rename": {"audit.log": "audit-log"}})
    names = m.topic_names(p, target)
    assert m.target_names(p, ["orders.v1", "payments", "audit.log"], target) == {
        "orders.v1": "orders_v1", "payments": "payments", "audit.log": "audit-log"}
    assert names.renamed(["orders.v1", "payments", "audit.log"]) == {"audit.log": "audit-log", "orders.v1": "orders_v1"}
    assert names.problems(["orders.v1", "payments", "audit.log"], ["orders.v1", "payments", "audit.log"]) == {}


def test_the_dotted_name_rule_keeps_dots():
    p = m.params_with_defaults({"topics": ["a"]})
    assert m.target_names(p, ["orders.v1", "a b#c"], _alibaba_target("dotted")) == {"orders.v1": "orders.v1", "a b#c": "a_b_c"}


def test_rule_refuse_leaves_the_refused_names_to_the_problems():
    p = m.params_with_defaults({"topics": ["a"], "rename_rule": "refuse", "rename": {"x.y.z": "x.y.z"}})
    names = m.topic_names(p, _alibaba_target("strict"))
    assert names.target("orders.v1") == "orders.v1"
    problems = names.problems(["orders.v1", "payments", "x.y.z"], ["orders.v1", "payments", "x.y.z"])
    assert sorted(problems) == ["orders.v1", "x.y.z"]
    assert "characters the service refuses" in problems["orders.v1"] and "rename map" in problems["orders.v1"]
    assert problems["x.y.z"].endswith("(from the rename map)")


def test_the_default_rule_can_make_two_sources_one_name():
    names = m.topic_names(m.params_with_defaults({"topics": ["a"]}), _alibaba_target("strict"))
    problems = names.problems(["a.b", "a_b"], ["a.b", "a_b"])
    assert sorted(problems) == ["a.b", "a_b"]
    assert "would be the target of 'a_b' too" in problems["a.b"]


def test_a_rename_onto_another_source_topic_collides():
    p = m.params_with_defaults({"topics": ["a"], "rename": {"orders": "payments"}})
    names = m.topic_names(p)
    both = names.problems(["orders", "payments"], ["orders", "payments"])
    assert sorted(both) == ["orders", "payments"] and "would be the target of 'payments' too" in both["orders"]
    # payments not selected: its own (same-name) target is still where a same-name copy puts it
    one = names.problems(["orders"], ["orders", "payments"])
    assert list(one) == ["orders"] and "is the name of another source topic" in one["orders"]


@pytest.mark.parametrize("change,fragment", [
    ({"rename": ["a"]}, "rename must be a dict"),
    ({"rename": {"a": ""}}, "rename: the target name of 'a' must be a non-empty string"),
    ({"rename": {"a": 3}}, "rename: the target name of 'a'"),
    ({"rename": {"a": "x", "b": "x"}}, "both map to 'x'"),
    ({"rename": {"a": "x y"}}, "rename: the target topic 'x y' of 'a' is not a legal Kafka topic name"),
    ({"rename": {"a": "x" * 250}}, "not a legal Kafka topic name: 250 characters"),
    ({"rename": {"a": "__consumer_offsets"}}, "is an internal topic"),
    ({"rename": {"a": "my-map"}, "offset_map_topic": "my-map"}, "this copy's offset map"),
    ({"rename": {"a": "b" * 50}, "target_prefix": "x" * 100, "target_suffix": "y" * 100}, "of 'a' is not a legal Kafka topic name: 250"),
    ({"rename_rule": "maybe"}, "rename_rule must be one of underscore, refuse"),
])
def test_bad_rename_options_are_refused(change, fragment):
    p = m.params_with_defaults(dict({"topics": ["a"]}, **change))
    with pytest.raises(KafkaOpsError) as err:
        m.check_params(p)
    assert fragment in err.value.msg


def test_good_rename_options_pass():
    rename = m.check_rename(m.params_with_defaults({"topics": ["a"], "rename": {"a": "b", "not-selected": "c"}}))
    assert rename == {"a": "b", "not-selected": "c"}
    m.check_params(m.params_with_defaults({"topics": ["a"], "rename": {"a": "b"}, "rename_rule": "refuse"}))


def test_missing_target_message_names_the_options_that_made_the_name():
    p = m.params_with_defaults({"topics": ["a"], "rename": {"a": "b"}, "target_prefix": "bk."})
    names = m.topic_names(p, _alibaba_target())
    assert m._same_options(p, names, "a") == " and the same rename map (rename) and target_prefix/target_suffix"
    assert "rename_rule" in m._same_options(p, names, "c.d")
    plain = m.params_with_defaults({"topics": ["a"]})
    assert m._same_options(plain, m.topic_names(plain), "a") == ""


def test_a_resumed_copy_into_a_renamed_topic_is_refused_when_the_map_says_another():
    omap = _omap(("orders.v1", 0, [(0, 0)], 1, 1))  # copied into orders.v1 (same name)
    plan = m.Plan()
    plan.topics = ["orders.v1"]
    st = m.PartitionState("orders.v1", 0, "orders-v1")
    st.low, st.end = 0, 5
    plan.partitions[("orders.v1", 0)] = st
    with pytest.raises(KafkaOpsError) as err:
        m.check_layout(plan, omap, "the-map")
    assert "orders.v1 copied into orders.v1, this run would copy it into orders-v1" in err.value.msg
    assert "rename" in err.value.msg and "nothing was copied" in err.value.msg
    assert err.value.details["layout_conflicts"] == {"orders.v1": {"recorded": "orders.v1", "requested": "orders-v1"}}
    renamed = _omap(("orders.v1", 0, [(0, 0)], 1, 1), target="orders-v1")
    m.apply_resume_points(plan, renamed, "the-map")
    assert st.start == 1 and st.resumed is True


def test_check_mode_result_reports_renamed_topics():
    plan = _plan([("a.b", 0, 0, 2)])
    plan.target_topics, plan.renamed = {"a.b": "a-b"}, {"a.b": "a-b"}
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a.b"], "rename": {"a.b": "a-b"}}), OffsetMap())
    assert res["renamed"] == {"a.b": "a-b"} and res["target_topics"] == {"a.b": "a-b"}


@pytest.mark.parametrize("params,target,fragment", [
    ({"target_prefix": "bk."}, None, "target_prefix / target_suffix are supported by engine builtin only"),
    ({"rename": {"a": "b"}}, None, "rename is supported by engine builtin only"),
    ({"topics": ["orders.v1", "ok-name"]}, {"api": "alibaba", "alibaba": {"name_rule": "strict"}}, "orders.v1: topic name"),
    ({"topics": ["ab"]}, {"api": "alibaba", "alibaba": {}}, "shorter than 3"),
])
def test_mirrormaker2_refuses_what_would_rename_topics(params, target, fragment):
    with pytest.raises(KafkaOpsError) as err:
        m.mirrormaker2_problem(params, target)
    assert fragment in err.value.msg and "nothing was changed" in err.value.msg
    if target:
        assert list(err.value.details["invalid"]) == params["topics"][:1]


def test_mirrormaker2_accepts_names_the_target_takes_and_leaves_patterns_unchecked():
    ali = {"api": "alibaba", "alibaba": {"name_rule": "strict"}}
    assert m.mirrormaker2_problem({"topics": ["orders-v1"], "include": [r"orders\..*"], "rename": {}}, ali) is None
    assert m.mirrormaker2_problem({"topics": ["orders.v1"]}, {"api": "alibaba", "alibaba": {"name_rule": "dotted"}}) is None
    assert m.mirrormaker2_problem({"topics": ["orders.v1"]}, {"api": "kafka"}) is None
    assert m.mirrormaker2_problem({"topics": ["orders.v1"]}, None) is None
