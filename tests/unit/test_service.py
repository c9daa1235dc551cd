"""kafka_service logic: the status parsers, the settle/prove logic on a fake clock with fake supervisorctl and
systemctl runners, and the command manager against real shell processes (a pidfile-based tiny service).

systemd cannot run on this machine: its parser and flow are tested with recorded ``systemctl show`` text only.
"""

import os
import shlex
import signal
import sys
from urllib.error import URLError

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import service as svc
from ansible_collections.kafkaops.migration.plugins.module_utils.service import (
    CommandManager,
    ServiceController,
    ServiceError,
    SupervisordManager,
    SystemdManager,
    build_manager,
    parse_supervisor_status,
    parse_systemctl_show,
    supervisor_exit_cause,
    systemd_cause,
    systemd_status,
)

# ---------------------------------------------------------------------------------------------- parsers

SUPERVISOR_STATUS = """\
app                              RUNNING   pid 4126, uptime 0:00:05
crash                            BACKOFF   Exited too quickly (process log may have details)
grp:worker_00                    RUNNING   pid 77, uptime 2 days, 3:04:05
old                              RUNNING   pid 78, uptime 1 day, 0:00:01
quick                            EXITED    Dec 02 04:36 AM
never                            STOPPED   Not started
bad                              FATAL     can't find command '/nonexistent'
up                               STARTING
nosuch: ERROR (no such process)
"""


def test_supervisor_status_parser_reads_every_state_pid_and_uptime():
    st = parse_supervisor_status(SUPERVISOR_STATUS)
    assert st["app"].state == "RUNNING" and st["app"].up and st["app"].pid == 4126 and st["app"].uptime == 5
    assert st["grp:worker_00"].uptime == 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert st["old"].uptime == 86401
    assert st["crash"].state == "BACKOFF" and not st["crash"].up and not st["crash"].down
    assert st["crash"].pid is None
    assert st["quick"].state == "EXITED" and st["quick"].down
    assert st["never"].down and st["never"].description == "Not started"
    assert st["bad"].state == "FATAL" and "can't find command" in st["bad"].description
    assert st["up"].state == "STARTING" and not st["up"].up and not st["up"].down
    assert st["nosuch"].unknown and st["nosuch"].error == "no such process"


def test_supervisor_status_parser_ignores_connection_errors():
    assert parse_supervisor_status("unix:///tmp/x.sock no such file\n") == {}
    assert parse_supervisor_status("http://localhost:9001 refused connection") == {}


MAINTAIL = """\
2026-12-02 04:38:25,843 INFO spawned: 'crash' with pid 6469
2026-12-02 04:38:25,848 INFO success: crash entered RUNNING state, process has stayed up for > than 0 seconds
2026-12-02 04:38:26,150 WARN exited: crash (exit status 2; not expected)
2026-12-02 04:38:26,151 WARN exited: crashy (exit status 9; not expected)
2026-12-02 04:38:27,153 INFO spawned: 'quick' with pid 6471
2026-12-02 04:38:28,459 WARN exited: quick (exit status 1; not expected)
2026-12-02 04:38:29,153 INFO spawned: 'slow' with pid 6472
2026-12-02 04:38:29,459 INFO exited: slow (exit status 1; not expected)
2026-12-02 04:38:29,460 INFO gave up: slow entered FATAL state, too many start retries too quickly
"""


def test_supervisor_exit_cause_is_the_last_word_about_that_program():
    assert supervisor_exit_cause(MAINTAIL, "crash") == "exit status 2; not expected"
    assert supervisor_exit_cause(MAINTAIL, "quick") == "exit status 1; not expected"
    assert supervisor_exit_cause(MAINTAIL, "slow") == (
        "exit status 1; not expected; gave up: entered FATAL state, too many start retries too quickly")
    assert supervisor_exit_cause(MAINTAIL, "nothing") == ""


SHOW_ACTIVE = """\
LoadState=loaded
ActiveState=active
SubState=running
MainPID=1234
ActiveEnterTimestampMonotonic=1000000000
UnitFileState=enabled
Result=success
ExecMainCode=0
ExecMainStatus=0
"""

SHOW_FAILED = """\
LoadState=loaded
ActiveState=failed
SubState=failed
MainPID=0
ActiveEnterTimestampMonotonic=0
UnitFileState=disabled
Result=exit-code
ExecMainCode=1
ExecMainStatus=1
"""

SHOW_NOT_FOUND = """\
LoadState=not-found
ActiveState=inactive
SubState=dead
MainPID=0
ActiveEnterTimestampMonotonic=0
UnitFileState=
Result=success
ExecMainCode=0
ExecMainStatus=0
"""


def test_systemctl_show_parser():
    props = parse_systemctl_show(SHOW_ACTIVE)
    assert props["ActiveState"] == "active" and props["MainPID"] == "1234"
    st = systemd_status("app.service", props, monotonic=1005.5)
    assert st.up and st.pid == 1234 and st.uptime == 5 and st.state == "active"
    failed = systemd_status("app.service", parse_systemctl_show(SHOW_FAILED), monotonic=1005.5)
    assert failed.down and failed.pid is None and failed.uptime is None and failed.state == "failed"
    assert systemd_cause(failed.extra) == "SubState=failed, Result=exit-code, main process exited with status 1"
    missing = systemd_status("nope.service", parse_systemctl_show(SHOW_NOT_FOUND))
    assert missing.unknown and "not-found" in missing.error
    killed = dict(parse_systemctl_show(SHOW_FAILED), Result="signal", ExecMainCode="2", ExecMainStatus="9")
    assert "killed with signal 9" in systemd_cause(killed)


def test_file_tail_and_substitute(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join("line %d\n" % i for i in range(5000)))
    assert svc.file_tail(str(log), 3) == ["line 4997", "line 4998", "line 4999"]
    assert svc.file_tail(str(tmp_path / "missing.log"), 3) == []
    assert svc.substitute("kill $(cat /run/{name}.pid) # {name}", "app") == "kill $(cat /run/app.pid) # app"


# ---------------------------------------------------------------------------------------------- fake world

class FakeClock:
    """Monotonic and wall clock in one; every command run costs ``cost`` seconds."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def wall(self):
        return 1700000000.0 + self.t

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += seconds


class Program:
    """A supervisord program on the fake clock: ``exits_after`` seconds after each start it exits;
    with ``autorestart`` supervisord respawns it (new pid) ``backoff`` seconds later."""

    def __init__(self, name, exits_after=None, autorestart=False, backoff=0.5, exit_status=1, stop_takes=0.0):
        self.name = name
        self.exits_after = exits_after
        self.autorestart = autorestart
        self.backoff = backoff
        self.exit_status = exit_status
        self.stop_takes = stop_takes
        self.started = None  # fake time of the current run's start
        self.stopped = False
        self.base_pid = 100
        self.pid_seq = 0
        self.stopping_until = None

    def state(self, now):
        if self.stopping_until is not None:
            if now < self.stopping_until:
                return "STOPPING", self.current_pid(now)
            self.stopping_until, self.started, self.stopped = None, None, True
        if self.started is None:
            return "STOPPED", None
        age = now - self.started
        if self.exits_after is None or age < self.exits_after:
            return "RUNNING", self.current_pid(now)
        if not self.autorestart:
            return "EXITED", None
        cycle = self.exits_after + self.backoff
        if age % cycle < self.exits_after:
            return "RUNNING", self.current_pid(now)
        return "BACKOFF", None

    def current_pid(self, now):
        runs = 0
        if self.autorestart and self.exits_after is not None and self.started is not None:
            runs = int((now - self.started) // (self.exits_after + self.backoff))
        return self.base_pid + self.pid_seq * 10 + runs


class FakeSupervisor:
    """Answers supervisorctl argv like the real one (output format, rc 3 when something is not running)."""

    def __init__(self, clock, programs, cost=0.05, reachable=True):
        self.clock = clock
        self.programs = dict((p.name, p) for p in programs)
        self.cost = cost
        self.reachable = reachable
        self.calls = []
        self.start_walls = []  # wall clock when each start command was entered

    def __call__(self, cmd, shell=False, timeout=None):
        assert not shell
        if "start" in cmd:
            self.start_walls.append(self.clock.wall())
        self.clock.t += self.cost
        args = list(cmd)
        assert args[0] == "supervisorctl"
        if args[1] == "-c":
            args = args[2:]
        verb, rest = args[1], args[2:]
        self.calls.append([verb] + rest)
        if not self.reachable:
            return 4, "unix:///tmp/fake.sock no such file\n", ""
        now = self.clock.t
        if verb == "status":
            lines, rc = [], 0
            for name in rest:
                prog = self.programs.get(name)
                if prog is None:
                    lines.append("%s: ERROR (no such process)" % name)
                    rc = 4
                    continue
                state, pid = prog.state(now)
                desc = "pid %d, uptime 0:00:01" % pid if state == "RUNNING" else "Dec 02 04:36 AM"
                if state != "RUNNING":
                    rc = 3
                lines.append("%-32s %-9s %s" % (name, state, desc))
            return rc, "\n".join(lines) + "\n", ""
        if verb == "start":
            prog = self.programs[rest[0]]
            if prog.state(now)[0] == "RUNNING":
                return 0, "%s: ERROR (already started)\n" % prog.name, ""
            prog.started, prog.stopped = now, False
            prog.pid_seq += 1
            return 0, "%s: started\n" % prog.name, ""
        if verb == "stop":
            prog = self.programs[rest[0]]
            if prog.state(now)[0] not in ("RUNNING", "BACKOFF", "STARTING"):
                return 0, "%s: ERROR (not running)\n" % prog.name, ""
            if prog.stop_takes:
                prog.stopping_until = now + prog.stop_takes
                return 0, "", ""
            prog.started, prog.stopped = None, True
            return 0, "%s: stopped\n" % prog.name, ""
        if verb == "maintail":
            out = []
            for prog in self.programs.values():
                if prog.exits_after is not None and prog.started is not None:
                    out.append("2026-12-02 04:38:26,150 WARN exited: %s (exit status %d; not expected)"
                               % (prog.name, prog.exit_status))
            return 0, "\n".join(out) + "\n", ""
        if verb == "tail":
            if len(rest) == 3:  # stderr
                return 0, "Traceback: boom\n" if rest[1] == "quick" else "", ""
            return 0, "starting %s\nready\n" % rest[1], ""
        raise AssertionError("unexpected supervisorctl call %r" % cmd)


def controller(world, clock, names, state, **kw):
    manager = SupervisordManager(runner=world, timeout=kw.get("timeout", 60.0))
    kw.setdefault("settle", 5.0)
    return ServiceController(manager, names, state=state, clock=clock, sleep=clock.sleep, wall=clock.wall, **kw)


def test_start_is_proven_by_a_settle_with_the_same_pid():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1")])
    res = controller(world, clock, ["p1"], "started").run()
    assert res["changed"] is True and res["actions"] == ["started p1"]
    (rec,) = res["services"]
    assert rec["before"] == "STOPPED" and rec["after"] == "RUNNING" and rec["pid"] == 110
    assert res["started_at"] == int(world.start_walls[0] * 1000) and res["stopped_at"] is None
    status_reads = [c for c in world.calls if c[0] == "status"]
    assert len(status_reads) >= 5 / 0.3  # polled about every 0.25 s for the whole settle
    assert max(clock.sleeps) <= svc.POLL
    assert res["duration"] >= 5.0
    assert res["log_tail"] == ["starting p1", "ready"]


def test_started_leaves_running_services_alone():
    clock = FakeClock()
    prog = Program("p1")
    prog.started = clock.t - 100
    world = FakeSupervisor(clock, [prog])
    res = controller(world, clock, ["p1"], "started").run()
    assert res["changed"] is False and res["actions"] == [] and res["started_at"] is None
    assert not [c for c in world.calls if c[0] == "start"]


def test_a_program_that_exits_during_the_settle_fails_with_its_cause():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1"), Program("p2", exits_after=1.3), Program("p3")])
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["p1", "p2", "p3"], "restarted").run()
    msg = err.value.msg
    assert msg.startswith("p2 did not stay up after its start: EXITED after 1.")
    assert "s of a 5 s settle (supervisord: exit status 1; not expected)" in msg
    assert "Done: started p1. Not done: p3." in msg
    assert "Last log lines: starting p2 | ready" in msg
    details = err.value.details
    assert details["actions"] == ["started p1"] and details["changed"] is True
    assert [s["name"] for s in details["services"]] == ["p1", "p2", "p3"]
    assert details["services"][1]["after"] == "EXITED"
    assert details["log_tail"] == ["starting p2", "ready"]
    assert not [c for c in world.calls if c[:2] == ["start", "p3"]]


def test_a_program_autorestarted_during_the_settle_fails_on_the_pid_change():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("crash", exits_after=0.6, autorestart=True, backoff=0.01, exit_status=2)])
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["crash"], "started").run()
    msg = err.value.msg
    assert "crash did not stay up after its start:" in msg
    assert "pid changed from 110 to 111" in msg or "BACKOFF" in msg
    assert "exit status 2" in msg
    assert "Done: nothing. Not done: nothing." in msg


def test_stop_waits_for_proof_and_times_out_clearly():
    clock = FakeClock()
    slow = Program("slow", stop_takes=2.0)
    slow.started = clock.t
    world = FakeSupervisor(clock, [slow])
    res = controller(world, clock, ["slow"], "stopped").run()
    assert res["actions"] == ["stopped slow"] and res["services"][0]["after"] == "STOPPED"
    assert res["stopped_at"] >= int((1700000000.0 + 1002.0) * 1000)

    stuck = Program("stuck", stop_takes=1000.0)
    stuck.started = clock.t
    world = FakeSupervisor(clock, [stuck])
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["stuck"], "stopped", timeout=3).run()
    assert "stuck did not stop within 3 s: still STOPPING" in err.value.msg
    assert err.value.details["stopped_at"] is None


def test_check_mode_only_reads():
    clock = FakeClock()
    running = Program("p1")
    running.started = clock.t
    world = FakeSupervisor(clock, [running, Program("p2")])
    res = controller(world, clock, ["p1", "p2"], "stopped", check_mode=True).run()
    assert res["changed"] is True and res["actions"] == ["would stop p1"]
    res = controller(world, clock, ["p1", "p2"], "started", check_mode=True).run()
    assert res["actions"] == ["would start p2"]
    res = controller(world, clock, ["p1", "p2"], "restarted", check_mode=True).run()
    assert res["actions"] == ["would restart p1", "would start p2"]
    assert {c[0] for c in world.calls} <= {"status", "tail"}


def test_unknown_program_fails_before_anything_is_done():
    clock = FakeClock()
    running = Program("p1")
    running.started = clock.t
    world = FakeSupervisor(clock, [running])
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["p1", "nosuch"], "stopped").run()
    assert err.value.msg.startswith("Unknown service for supervisord: nosuch (no such process). Nothing was done.")
    assert err.value.details["changed"] is False
    assert {c[0] for c in world.calls} <= {"status", "tail"}


def test_unreachable_supervisord_fails_clearly():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1")], reachable=False)
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["p1"], "started").run()
    assert "supervisorctl could not report the status of p1 (is supervisord running" in err.value.msg
    assert "no such file" in err.value.msg and "Nothing was done." in err.value.msg


def test_status_changes_nothing_and_returns_the_log_tail():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1"), Program("quick")])
    res = controller(world, clock, ["p1", "quick"], "status", log_lines=2).run()
    assert res["changed"] is False and res["actions"] == []
    assert res["log_tail"] == ["p1: starting p1", "p1: ready", "quick: starting quick", "quick: ready",
                               "quick: stderr: Traceback: boom"]


def test_probes_run_after_the_settle_with_fake_http():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1")])
    answers = iter([None, 503, 200])
    seen = []

    def http_get(url, timeout):
        seen.append((url, clock.t))
        got = next(answers)
        if got is None:
            raise URLError("connection refused")
        return got

    res = controller(world, clock, ["p1"], "started", settle=1, http_url="http://127.0.0.1:8080/{name}/health",
                     http_get=http_get).run()
    assert [u for u, _t in seen] == ["http://127.0.0.1:8080/p1/health"] * 3
    assert "http://127.0.0.1:8080/p1/health answered HTTP 200 (try 3)" in res["services"][0]["proof"]

    world = FakeSupervisor(clock, [Program("p1")])
    with pytest.raises(ServiceError) as err:
        controller(world, clock, ["p1"], "started", settle=0, timeout=2, http_url="http://x/",
                   http_get=lambda url, timeout: 500).run()
    assert "http://x/ did not answer HTTP 200 within 2 s for p1" in err.value.msg and "last: HTTP 500" in err.value.msg


def test_bad_options_fail_early():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1")])
    with pytest.raises(ServiceError, match="not a valid regular expression"):
        controller(world, clock, ["p1"], "started", log_file="/tmp/x", log_pattern="(")
    with pytest.raises(ServiceError, match="only for manager=systemd"):
        controller(world, clock, ["p1"], "started", enabled=True)
    with pytest.raises(ServiceError, match="needs commands"):
        build_manager("command", commands={"start": "true"})
    assert world.calls == []


# ---------------------------------------------------------------------------------------------- systemd

class FakeSystemd:
    """systemctl show/start/stop/enable/daemon-reload on the fake clock; ``fails_after`` makes a unit fail."""

    def __init__(self, clock, units, fails_after=None, cost=0.02):
        self.clock = clock
        self.units = dict((u, {"active": False, "since": None, "enabled": False, "pid": 0}) for u in units)
        self.fails_after = fails_after or {}
        self.cost = cost
        self.calls = []

    def __call__(self, cmd, shell=False, timeout=None):
        self.clock.t += self.cost
        self.calls.append(list(cmd))
        if cmd[0] == "journalctl":
            return 0, "-- Logs begin --\nDec 02 app[1]: ready\n", ""
        verb = cmd[1]
        if verb == "daemon-reload":
            return 0, "", ""
        name = cmd[-1]
        if verb == "show":
            if name not in self.units:
                return 0, SHOW_NOT_FOUND, ""
            u = self.units[name]
            now = self.clock.t
            failed = u["active"] and name in self.fails_after and now - u["since"] >= self.fails_after[name]
            if failed:
                return 0, SHOW_FAILED.replace("UnitFileState=disabled", "UnitFileState=%s" % (
                    "enabled" if u["enabled"] else "disabled")), ""
            if u["active"]:
                return 0, SHOW_ACTIVE.replace("MainPID=1234", "MainPID=%d" % u["pid"]).replace(
                    "UnitFileState=enabled", "UnitFileState=%s" % ("enabled" if u["enabled"] else "disabled")), ""
            return 0, SHOW_NOT_FOUND.replace("not-found", "loaded").replace(
                "UnitFileState=", "UnitFileState=%s" % ("enabled" if u["enabled"] else "disabled")), ""
        u = self.units[name]
        if verb == "start":
            u.update(active=True, since=self.clock.t, pid=u["pid"] + 1000)
        elif verb == "stop":
            u.update(active=False)
        elif verb in ("enable", "disable"):
            u["enabled"] = verb == "enable"
        return 0, "", ""


def systemd_controller(world, clock, names, state, **kw):
    manager = SystemdManager(runner=world, monotonic=clock)
    kw.setdefault("settle", 2.0)
    return ServiceController(manager, names, state=state, clock=clock, sleep=clock.sleep, wall=clock.wall, **kw)


def test_systemd_restart_with_daemon_reload_and_enable():
    clock = FakeClock()
    world = FakeSystemd(clock, ["a.service", "b.service"])
    res = systemd_controller(world, clock, ["a.service", "b.service"], "started", daemon_reload=True,
                             enabled=True).run()
    assert res["actions"] == ["enabled a.service", "daemon-reload", "started a.service",
                              "enabled b.service", "started b.service"]
    assert [c[1] for c in world.calls if c[0] == "systemctl"].count("daemon-reload") == 1
    assert all(s["after"] == "active" and s["enabled"] is True and s["pid"] for s in res["services"])
    res = systemd_controller(world, clock, ["a.service"], "restarted").run()
    assert res["actions"] == ["stopped a.service", "started a.service"]
    assert res["services"][0]["pid"] == 2000
    res = systemd_controller(world, clock, ["a.service"], "stopped", enabled=False, check_mode=True).run()
    assert res["actions"] == ["would disable a.service", "would stop a.service"]
    assert res["log_tail"] == ["Dec 02 app[1]: ready"]


def test_systemd_unit_failing_during_the_settle_and_unknown_unit():
    clock = FakeClock()
    world = FakeSystemd(clock, ["a.service"], fails_after={"a.service": 0.8})
    with pytest.raises(ServiceError) as err:
        systemd_controller(world, clock, ["a.service"], "started").run()
    assert "a.service did not stay up after its start: failed after 0." in err.value.msg
    assert "(systemd: SubState=failed, Result=exit-code, main process exited with status 1)" in err.value.msg
    world = FakeSystemd(clock, ["a.service"])
    with pytest.raises(ServiceError) as err:
        systemd_controller(world, clock, ["a.service", "gone.service"], "started").run()
    assert "Unknown service for systemd: gone.service (LoadState=not-found). Nothing was done." in err.value.msg
    assert not [c for c in world.calls if c[1] == "start"]


def test_systemctl_that_cannot_answer():
    clock = FakeClock()
    manager = SystemdManager(runner=lambda cmd, shell=False, timeout=None: (
        1, "", "System has not been booted with systemd as init system (PID 1). Can't operate."), monotonic=clock)
    with pytest.raises(ServiceError) as err:
        ServiceController(manager, ["a.service"], state="stopped", clock=clock, sleep=clock.sleep).run()
    assert "systemctl could not report the status of a.service (is systemd running?)" in err.value.msg
    assert "not been booted with systemd" in err.value.msg


# ---------------------------------------------------------------------------------------------- command, real shell

@pytest.fixture
def pidfile_service(tmp_path):
    """Commands of a tiny service: a background ``sleep`` (or ``sh -c 'sleep N'``) whose pid is in a pidfile."""
    d = str(tmp_path)
    pid_of = "$(cat %s/{name}.pid 2>/dev/null)" % shlex.quote(d)
    commands = {
        "start": "sh -c 'sleep 300 & echo $! > %s/{name}.pid'" % shlex.quote(d),
        "stop": "kill %s" % pid_of,
        # a killed child may linger as a zombie until init reaps it: that is not running
        "status": 'p=%s; [ -n "$p" ] && [ -d /proc/$p ] && ! grep -q "^State:.*Z" /proc/$p/status' % pid_of,
        "pid": "cat %s/{name}.pid" % shlex.quote(d),
    }
    yield commands, tmp_path
    for f in tmp_path.glob("*.pid"):
        try:
            os.kill(int(f.read_text().strip()), signal.SIGKILL)
        except (ValueError, OSError):
            pass


def command_controller(commands, names, state, **kw):
    kw.setdefault("settle", 1.0)
    kw.setdefault("timeout", 10.0)
    return ServiceController(CommandManager(commands, timeout=kw["timeout"]), names, state=state, **kw)


def test_command_manager_start_stop_restart_with_real_processes(pidfile_service):
    commands, tmp = pidfile_service
    res = command_controller(commands, ["s1", "s2"], "started").run()
    assert res["changed"] is True and res["actions"] == ["started s1", "started s2"]
    pids = [s["pid"] for s in res["services"]]
    assert all(isinstance(p, int) and p > 0 for p in pids) and pids[0] != pids[1]
    assert all(s["before"] == "stopped" and s["after"] == "running" for s in res["services"])
    assert res["services"][0]["uptime"] is not None
    assert res["duration"] >= 2.0

    res = command_controller(commands, ["s1", "s2"], "started").run()
    assert res["changed"] is False and res["actions"] == [] and res["started_at"] is None

    res = command_controller(commands, ["s1"], "restarted").run()
    assert res["actions"] == ["stopped s1", "started s1"] and res["services"][0]["pid"] != pids[0]
    assert res["stopped_at"] <= res["started_at"] + 1  # stop proven before the start began (same ms at most)
    assert _gone(pids[0])

    res = command_controller(commands, ["s1", "s2"], "stopped", check_mode=True).run()
    assert res["actions"] == ["would stop s1", "would stop s2"]
    assert all(s["after"] == "running" for s in res["services"])

    res = command_controller(commands, ["s1", "s2"], "stopped").run()
    assert res["actions"] == ["stopped s1", "stopped s2"] and res["stopped_at"] is not None
    assert all(s["after"] == "stopped" and s["pid"] is None for s in res["services"])


def _gone(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            return any(line.startswith("State:") and "Z" in line for line in fh)
    except OSError:
        return True


def test_command_service_that_dies_during_the_settle(pidfile_service):
    commands, tmp = pidfile_service
    dying = dict(commands, start="sh -c 'sleep 0.4 & echo $! > %s/{name}.pid'" % shlex.quote(str(tmp)))
    with pytest.raises(ServiceError) as err:
        command_controller(dying, ["d1"], "started", settle=1.5).run()
    assert "d1 did not stay up after its start: stopped after " in err.value.msg
    assert "s of a 1.5 s settle (command: status command rc 1)" in err.value.msg
    assert err.value.details["services"][0]["after"] == "stopped"


def test_command_probe_and_log_pattern(pidfile_service):
    commands, tmp = pidfile_service
    log = tmp / "app.log"
    log.write_text("ready from an earlier run\n")
    start = "%s; (sleep 0.3; echo 'app {name} ready') >> %s &" % (commands["start"], shlex.quote(str(log)))
    res = command_controller(dict(commands, start=start), ["s1"], "started", settle=0.5, log_file=str(log),
                             log_pattern=r"app \S+ ready", probe_command="test -s %s" % shlex.quote(str(log)),
                             log_lines=5).run()
    proof = res["services"][0]["proof"]
    assert "log line: app s1 ready" in proof and "probe_command rc 0 (try 1)" in proof
    assert res["log_tail"] == ["ready from an earlier run", "app s1 ready"]

    with pytest.raises(ServiceError) as err:
        command_controller(commands, ["s2"], "started", settle=0, timeout=1.0, log_file=str(log),
                           log_pattern="never there").run()
    assert "no line matching 'never there' appeared in %s within 1 s after the start of s2" % log in err.value.msg
    assert err.value.details["log_tail"][-1] == "app s1 ready"

    with pytest.raises(ServiceError) as err:
        command_controller(commands, ["s1"], "started", timeout=1.0, probe_command="exit 3").run()
    assert "the probe_command of s1 did not succeed within 1 s" in err.value.msg and "last rc 3" in err.value.msg


def test_command_status_that_cannot_run_is_an_unknown_service(pidfile_service):
    commands, tmp = pidfile_service
    broken = dict(commands, status="/nonexistent/status-{name}")
    with pytest.raises(ServiceError) as err:
        command_controller(broken, ["s1"], "started").run()
    assert err.value.msg.startswith("Unknown service for command: s1 (status command '/nonexistent/status-s1' rc 127")
    assert "Nothing was done." in err.value.msg
    assert not list(tmp.glob("*.pid"))


def test_runner_does_not_wait_for_the_daemon_a_command_leaves_behind(tmp_path):
    rc, out, err = svc.default_runner("sleep 30 & echo $! > %s/p; echo started" % tmp_path, shell=True, timeout=5)
    try:
        assert rc == 0 and out == "started\n"
    finally:
        os.kill(int((tmp_path / "p").read_text()), signal.SIGKILL)
    assert svc.default_runner("sleep 5", shell=True, timeout=0.3)[0] is None
    assert svc.default_runner(["/nonexistent/x"])[0] == 127
    assert svc.default_runner([sys.executable, "-c", "import sys; sys.exit(4)"])[0] == 4


def test_default_http_get_against_a_local_server():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = "http://127.0.0.1:%d" % server.server_address[1]
        assert svc.default_http_get(base + "/ok", 5) == 200
        assert svc.default_http_get(base + "/down", 5) == 503
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(Exception):
        svc.default_http_get(base + "/ok", 2)  # nothing listens any more


def test_manager_failing_half_way_still_says_what_was_done():
    clock = FakeClock()
    world = FakeSupervisor(clock, [Program("p1"), Program("p2")])
    ctl = controller(world, clock, ["p1", "p2"], "started", settle=0.5)
    real_start = ctl.manager.start

    def start_then_die(name, timeout):
        out = real_start(name, timeout)
        if name == "p2":
            world.reachable = False
        return out

    ctl.manager.start = start_then_die
    with pytest.raises(ServiceError) as err:
        ctl.run()
    assert err.value.msg.startswith("supervisorctl could not report the status of p2")
    assert "Done: started p1. Not done: nothing." in err.value.msg
    assert err.value.details["actions"] == ["started p1"] and err.value.details["changed"] is True
