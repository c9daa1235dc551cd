"""kafka_service against a real supervisord (no Kafka): one supervisord for the module, on a unix socket in a
temporary folder, with a long-running program, a program that exits 1 s after its start (startsecs=0, so
supervisord calls it RUNNING at once), and a crash-looping one (autorestart=true).

Each test puts the programs it uses into the state it needs first (through supervisorctl directly) and waits
for states with bounded polls only.
"""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.kafkaops.migration.plugins.modules import kafka_service
from tests.utils.modules import FailJson, run_module

BIN = os.path.dirname(sys.executable)
SUPERVISORD = os.path.join(BIN, "supervisord")
SUPERVISORCTL = os.path.join(BIN, "supervisorctl")

CONF = """\
[unix_http_server]
file={d}/supervisor.sock

[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
nodaemon=false

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{d}/supervisor.sock

[program:app]
command={py} -u -c "import time; print('starting', flush=True); time.sleep(0.3); print('ready', flush=True); [time.sleep(0.2) for _ in iter(int, 1)]"
autostart=false
startsecs=0
stopwaitsecs=5
stdout_logfile={d}/app.log

[program:app2]
command={py} -u -c "import time; print('ready', flush=True); [time.sleep(0.2) for _ in iter(int, 1)]"
autostart=false
startsecs=0

[program:quick]
command={py} -u -c "import sys, time; print('quick up', flush=True); time.sleep(1); print('quick: fatal error, giving up', flush=True); sys.exit(1)"
autostart=false
startsecs=0
autorestart=false
stdout_logfile={d}/quick.log

[program:crash]
command={py} -u -c "import sys, time; print('crash up', flush=True); time.sleep(0.3); sys.exit(2)"
autostart=false
startsecs=0
autorestart=true
"""


def ctl(conf, *args, timeout=30):
    return subprocess.run([SUPERVISORCTL, "-c", conf] + list(args), capture_output=True, text=True, timeout=timeout,
                          check=False)


def state_of(conf, name):
    """(state word, pid or None) as supervisorctl reports it."""
    fields = ctl(conf, "status", name).stdout.split()
    state = fields[1] if len(fields) > 1 else None
    pid = int(fields[3].rstrip(",")) if state == "RUNNING" else None
    return state, pid


def wait_state(conf, name, states, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        st = state_of(conf, name)
        if st[0] in states:
            return st
        assert time.monotonic() < deadline, "%s still %s, not %s" % (name, st, states)
        time.sleep(0.1)


def ensure(conf, name, up):
    if up:
        if state_of(conf, name)[0] != "RUNNING":
            ctl(conf, "start", name)
        return wait_state(conf, name, ("RUNNING",))
    ctl(conf, "stop", name)
    return wait_state(conf, name, ("STOPPED", "EXITED", "FATAL"))


@pytest.fixture(scope="module")
def sup(tmp_path_factory):
    d = tmp_path_factory.mktemp("supervisord")
    conf = d / "supervisord.conf"
    conf.write_text(CONF.format(d=d, py=sys.executable))
    conf = str(conf)
    subprocess.run([SUPERVISORD, "-c", conf], check=True, timeout=30)  # daemonizes
    deadline = time.monotonic() + 20
    while ctl(conf, "status").stdout.count("STOPPED") < 4:
        assert time.monotonic() < deadline, "supervisord did not come up: %s" % ctl(conf, "status")
        time.sleep(0.1)
    try:
        yield dict(conf=conf, dir=d)
    finally:
        ctl(conf, "shutdown")
        pidfile = d / "supervisord.pid"
        deadline = time.monotonic() + 20
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def args(sup, name, state, **kw):
    out = dict(name=name if isinstance(name, list) else [name], manager="supervisord", state=state,
               supervisorctl=SUPERVISORCTL, supervisor_config=sup["conf"], settle=1.0, timeout=10.0)
    out.update(kw)
    return out


def fail(sup, name, state, check_mode=False, **kw):
    with pytest.raises(FailJson) as err:
        run_module(kafka_service, args(sup, name, state, **kw), check_mode=check_mode)
    return err.value.result


def test_started_is_proven_and_idempotent(sup):
    ensure(sup["conf"], "app", False)
    ensure(sup["conf"], "app2", False)
    before = int(time.time() * 1000)
    res = run_module(kafka_service, args(sup, ["app", "app2"], "started"))
    assert res["changed"] is True and res["actions"] == ["started app", "started app2"]
    assert before <= res["started_at"] <= int(time.time() * 1000) and res["stopped_at"] is None
    for rec in res["services"]:
        assert rec["before"] == "STOPPED" and rec["after"] == "RUNNING"
        assert rec["pid"] == state_of(sup["conf"], rec["name"])[1]
        assert "stayed RUNNING for 1 s with pid %d" % rec["pid"] in rec["proof"][0]
    assert res["duration"] >= 2.0
    assert "app2: ready" in res["log_tail"]

    again = run_module(kafka_service, args(sup, ["app", "app2"], "started"))
    assert again["changed"] is False and again["actions"] == [] and again["started_at"] is None
    assert [s["pid"] for s in again["services"]] == [s["pid"] for s in res["services"]]


def test_program_exiting_after_one_second_fails_with_its_cause_and_log(sup):
    ensure(sup["conf"], "app", False)
    ensure(sup["conf"], "quick", False)
    res = fail(sup, ["app", "quick", "app2"], "started", settle=1.5)
    msg = res["msg"]
    assert "quick did not stay up after its start: EXITED after " in msg, msg
    assert "of a 1.5 s settle (supervisord: exit status 1; not expected)" in msg, msg
    assert "Done: started app. Not done: app2." in msg, msg
    assert "quick: fatal error, giving up" in msg  # quoted from the log tail
    assert res["log_tail"][-1] == "quick: fatal error, giving up"
    assert res["actions"] == ["started app"] and res["changed"] is True
    assert [s["after"] for s in res["services"]][:2] == ["RUNNING", "EXITED"]
    assert state_of(sup["conf"], "quick")[0] == "EXITED"


def test_crash_looping_program_fails(sup):
    ensure(sup["conf"], "crash", False)
    try:
        res = fail(sup, "crash", "started", settle=1.5)
        assert "crash did not stay up after its start:" in res["msg"]
        assert "exit status 2; not expected" in res["msg"], res["msg"]
        assert "crash up" in res["log_tail"]
    finally:
        ensure(sup["conf"], "crash", False)


def test_program_exiting_while_its_log_line_is_awaited_fails_at_once(sup):
    ensure(sup["conf"], "quick", False)
    log = str(sup["dir"] / "quick.log")
    started = time.monotonic()
    # settle 0.2 s passes; "quick" exits 1 s after its start without the awaited line: that fails then, not at 30 s
    res = fail(sup, "quick", "started", settle=0.2, timeout=30.0, log_file=log, log_pattern="^never printed$")
    assert time.monotonic() - started < 15
    assert "quick did not stay up after its start: EXITED while waiting for a line matching '^never printed$'" in res["msg"], \
        res["msg"]
    assert "exit status 1; not expected" in res["msg"], res["msg"]


def test_restarted_changes_the_pid_and_stopped_is_proven(sup):
    _state, pid = ensure(sup["conf"], "app", True)
    res = run_module(kafka_service, args(sup, "app", "restarted"))
    assert res["changed"] is True and res["actions"] == ["stopped app", "started app"]
    (rec,) = res["services"]
    assert rec["before"] == "RUNNING" and rec["after"] == "RUNNING" and rec["pid"] not in (None, pid)
    assert rec["pid"] == state_of(sup["conf"], "app")[1]
    assert res["stopped_at"] <= res["started_at"]

    res = run_module(kafka_service, args(sup, "app", "stopped"))
    assert res["changed"] is True and res["actions"] == ["stopped app"] and res["started_at"] is None
    assert res["services"][0]["after"] == "STOPPED" and res["services"][0]["pid"] is None
    assert state_of(sup["conf"], "app")[0] == "STOPPED"
    assert res["stopped_at"] <= int(time.time() * 1000)

    again = run_module(kafka_service, args(sup, "app", "stopped"))
    assert again["changed"] is False and again["actions"] == [] and again["stopped_at"] is None


def test_check_mode_says_what_it_would_do_and_does_nothing(sup):
    _state, pid = ensure(sup["conf"], "app", True)
    ensure(sup["conf"], "app2", False)
    res = run_module(kafka_service, args(sup, ["app", "app2"], "stopped"), check_mode=True)
    assert res["changed"] is True and res["actions"] == ["would stop app"]
    assert state_of(sup["conf"], "app") == ("RUNNING", pid)
    res = run_module(kafka_service, args(sup, ["app", "app2"], "started"), check_mode=True)
    assert res["actions"] == ["would start app2"]
    assert state_of(sup["conf"], "app2")[0] == "STOPPED"
    res = run_module(kafka_service, args(sup, ["app"], "restarted"), check_mode=True)
    assert res["actions"] == ["would restart app"] and state_of(sup["conf"], "app") == ("RUNNING", pid)


def test_log_pattern_and_probe_command(sup):
    ensure(sup["conf"], "app", False)
    log = str(sup["dir"] / "app.log")
    probe = "%s -c %s status {name}" % (SUPERVISORCTL, sup["conf"])
    res = run_module(kafka_service, args(sup, "app", "started", log_file=log, log_pattern="^ready$",
                                         probe_command=probe, log_lines=3))
    proof = res["services"][0]["proof"]
    assert "log line: ready" in proof and "probe_command rc 0 (try 1)" in proof, proof
    assert res["log_tail"][-1] == "ready"

    # The pattern must appear after this start: the earlier "ready" lines do not count.
    ensure(sup["conf"], "app", False)
    res = fail(sup, "app", "started", log_file=log, log_pattern="^never logged$", timeout=1.5)
    assert "no line matching '^never logged$' appeared in %s within 1.5 s after the start of app" % log in res["msg"]
    assert res["log_tail"][-1] == "ready"

    res = fail(sup, "app", "started", probe_command="exit 1", timeout=1.0)
    assert "the probe_command of app did not succeed within 1 s" in res["msg"]


def test_unknown_program_fails_and_nothing_changes(sup):
    _state, pid = ensure(sup["conf"], "app", True)
    res = fail(sup, ["app", "nosuch"], "stopped")
    assert res["msg"].startswith("Unknown service for supervisord: nosuch (no such process). Nothing was done.")
    assert res["changed"] is False and res["actions"] == []
    assert "log_tail" in res and [s["name"] for s in res["services"]] == ["app", "nosuch"]
    assert state_of(sup["conf"], "app") == ("RUNNING", pid)


def test_unreachable_supervisord_fails_clearly(sup, tmp_path):
    conf = tmp_path / "gone.conf"
    conf.write_text("[supervisorctl]\nserverurl=unix://%s/gone.sock\n" % tmp_path)
    res = fail(dict(sup, conf=str(conf)), "app", "started")
    assert "supervisorctl could not report the status of app (is supervisord running" in res["msg"]
    assert "no such file" in res["msg"] and "Nothing was done." in res["msg"]


def test_status_reads_only(sup):
    _state, pid = ensure(sup["conf"], "app", True)
    res = run_module(kafka_service, args(sup, ["app", "quick"], "status", log_lines=2))
    assert res["changed"] is False and res["actions"] == []
    assert res["services"][0]["after"] == "RUNNING" and res["services"][0]["pid"] == pid
    assert res["services"][0]["uptime"] is not None
    assert res["log_tail"] and all(line.startswith(("app: ", "quick: ")) for line in res["log_tail"])
    assert state_of(sup["conf"], "app") == ("RUNNING", pid)
