# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, stop and restart an application's services and prove the state they end in.

Plain Python, no AnsibleModule: :class:`ServiceController` drives one of three managers
(:class:`SupervisordManager`, :class:`SystemdManager`, :class:`CommandManager`) through an injectable
``runner(argv_or_shell_string, shell=False, timeout=None) -> (rc, stdout, stderr)`` (``rc`` is None when the
command did not end within ``timeout``), on an injectable monotonic ``clock`` / ``sleep`` / wall clock, so that
every decision can be unit-tested with a fake clock and fake command output.

Nothing a manager says about a start is trusted: after a start the service must be seen running, then stay
running with the same pid for ``settle`` seconds (polled every :data:`POLL` seconds), then pass the optional
probes (a command, an HTTP GET, a log line written after the start).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import subprocess
import tempfile
import time
from urllib.error import HTTPError

from ansible.module_utils.urls import open_url

MANAGERS = ("systemd", "supervisord", "command")
STATES = ("started", "stopped", "restarted", "status")
POLL = 0.25  # seconds between two status reads while waiting or settling
PROBE_POLL = 0.5  # seconds between two tries of a probe
MSG_LOG_LINES = 5  # log lines quoted in a failure message (all of log_lines are in log_tail)
CANNOT_RUN = (126, 127)  # the shell could not run the command at all


class ServiceError(Exception):
    """A failure with the partial result to return alongside ``msg``."""

    def __init__(self, msg, **details):
        super(ServiceError, self).__init__(msg)
        self.msg = msg
        self.details = details


def default_runner(cmd, shell=False, timeout=None):
    """Run ``cmd`` (argv list, or a shell string with ``shell=True``); return ``(rc, stdout, stderr)``.

    Output goes to temporary files, not pipes: a start command that leaves a daemon behind (``sleep 300 &``)
    keeps its inherited stdout open, and a pipe would then never reach end-of-file. On timeout the command
    (not what it started) is killed and ``rc`` is None. A program that cannot be executed gives rc 127.
    """
    env = None
    if not shell:
        env = dict(os.environ, LC_ALL="C", LANG="C")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, shell=shell, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, close_fds=True, start_new_session=True)
        except OSError as exc:
            return 127, "", "cannot run %s: %s" % (cmd if shell else cmd[0], exc)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
        out.seek(0)
        err.seek(0)
        return (rc, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def default_http_get(url, timeout):
    """GET ``url``; return the HTTP status, or raise an error whose text says why there was none."""
    try:
        resp = open_url(url, method="GET", timeout=timeout, validate_certs=True, follow_redirects="safe")
        try:
            return resp.getcode()
        finally:
            resp.close()
    except HTTPError as exc:
        return exc.code


def substitute(template, name):
    """``{name}`` in a command template replaced by the service name (as is: quote it in the template)."""
    return template.replace("{name}", name)


def tail_lines(text, n):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-n:] if n > 0 else []


def file_tail(path, n, chunk=8192):
    """The last ``n`` lines of a file (read from its end), or [] when it cannot be read."""
    if n <= 0 or not path:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            pos = fh.tell()
            data = b""
            while pos > 0 and data.count(b"\n") <= n:
                step = min(chunk, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
    except (IOError, OSError):
        return []
    return tail_lines(data.decode("utf-8", "replace"), n)


def file_size(path):
    try:
        return os.path.getsize(path)
    except (IOError, OSError):
        return 0


def proc_uptime(pid):
    """Seconds a local process has been running, from /proc, or None."""
    try:
        with open("/proc/%d/stat" % int(pid)) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as fh:
            boot = float(fh.read().split()[0])
        return max(0, int(boot - int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))))
    except (IOError, OSError, ValueError, IndexError, TypeError):
        return None


def short(text, limit=300):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_output(rc, out, err):
    text = short("%s %s" % (out or "", err or ""))
    if rc is None:
        return "did not return in time" + (": %s" % text if text else "")
    return "rc %s" % rc + (": %s" % text if text else "")


class Status:
    """One service as its manager reports it.

    ``state`` is the manager's own word; ``up`` means running, ``down`` means stopped for good (neither:
    on the way up or down); ``unknown`` means the manager does not know the name (``error`` says why).
    """

    def __init__(self, name, state, up=False, down=False, pid=None, uptime=None, description="",
                 unknown=False, error=None, extra=None):
        self.name = name
        self.state = state
        self.up = up
        self.down = down
        self.pid = pid
        self.uptime = uptime
        self.description = description
        self.unknown = unknown
        self.error = error
        self.extra = extra or {}

    def __repr__(self):
        return "Status(%r, %r, pid=%r)" % (self.name, self.state, self.pid)


class Manager:
    """What the controller needs from a service manager."""

    label = "manager"
    # states in which a service is still on its way up right after a start: waiting goes on
    starting_states = ()

    def __init__(self, runner=default_runner, timeout=60.0):
        self.runner = runner
        self.timeout = timeout

    def run(self, cmd, shell=False, timeout=None):
        return self.runner(cmd, shell=shell, timeout=self.timeout if timeout is None else timeout)

    def read(self, names):  # pragma: no cover - abstract
        """``{name: Status}`` for every name; raises :class:`ServiceError` when the manager cannot answer."""
        raise NotImplementedError

    def read_one(self, name):
        return self.read([name])[name]

    def start(self, name, timeout):  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self, name, timeout):  # pragma: no cover - abstract
        raise NotImplementedError

    def still_starting(self, status):
        """Whether a service not yet up right after its start may still come up (waiting goes on)."""
        return status.state in self.starting_states

    def log_tail(self, name, n):
        return []

    def cause(self, name, status):
        """Why a service is not up, in the manager's words ('' when it says nothing)."""
        return status.description or ""


# ---------------------------------------------------------------------------------------------- supervisord

SUPERVISOR_STATES = ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN")
SUPERVISOR_DOWN = ("STOPPED", "EXITED", "FATAL")
_SUP_LINE = re.compile(r"^(\S+)\s+(%s)\b\s*(.*)$" % "|".join(SUPERVISOR_STATES))
_SUP_ERROR = re.compile(r"^(\S+): ERROR \((.*)\)\s*$")
_SUP_PID = re.compile(r"\bpid (\d+)")
_SUP_UPTIME = re.compile(r"uptime (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)")
_SUP_DATE = re.compile(r"^[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M$")


def parse_supervisor_uptime(text):
    m = _SUP_UPTIME.search(text or "")
    if not m:
        return None
    days, h, mi, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + int(s)


def parse_supervisor_status(text):
    """``supervisorctl status`` output -> ``{name: Status}`` (error lines as unknown, or with ``error``).

    Lines look like ``name   RUNNING   pid 123, uptime 0:00:05``, ``name   EXITED    Dec 02 04:36 AM``,
    ``name: ERROR (no such process)``. Anything else (connection errors) is ignored here.
    """
    found = {}
    for line in (text or "").splitlines():
        line = line.rstrip()
        m = _SUP_ERROR.match(line)
        if m:
            name, why = m.groups()
            unknown = why in ("no such process", "no such group")
            found[name] = Status(name, None, unknown=unknown, error=why, description=why)
            continue
        m = _SUP_LINE.match(line)
        if not m:
            continue
        name, state, desc = m.groups()
        pid = None
        uptime = None
        if state == "RUNNING":
            pm = _SUP_PID.search(desc)
            pid = int(pm.group(1)) if pm else None
            uptime = parse_supervisor_uptime(desc)
        found[name] = Status(name, state, up=state == "RUNNING", down=state in SUPERVISOR_DOWN, pid=pid,
                             uptime=uptime, description=desc.strip())
    return found


def supervisor_exit_cause(maintail, name):
    """The last words of supervisord's own log about ``name``: ``exit status 1; not expected``, ``gave up: ...``."""
    exited = None
    gave_up = None
    pat_exit = re.compile(r"\bexited: %s \((.*)\)\s*$" % re.escape(name))
    pat_gave = re.compile(r"\bgave up: %s (.*)$" % re.escape(name))
    pat_spawned = re.compile(r"\bspawned: '%s' " % re.escape(name))
    for line in (maintail or "").splitlines():
        m = pat_exit.search(line)
        if m:
            exited, gave_up = m.group(1), None
            continue
        m = pat_gave.search(line)
        if m:
            gave_up = m.group(1).strip()
            continue
        if pat_spawned.search(line):
            gave_up = None
    parts = [p for p in (exited, ("gave up: " + gave_up) if gave_up else None) if p]
    return "; ".join(parts)


class SupervisordManager(Manager):
    label = "supervisord"
    starting_states = ("STARTING",)

    def __init__(self, supervisorctl="supervisorctl", config=None, **kw):
        super(SupervisordManager, self).__init__(**kw)
        self.base = shlex.split(supervisorctl) + (["-c", config] if config else [])

    def read(self, names):
        rc, out, err = self.run(self.base + ["status"] + list(names))
        found = parse_supervisor_status(out)
        missing = [n for n in names if n not in found]
        if missing:
            raise ServiceError(
                "supervisorctl could not report the status of %s (is supervisord running, and is %s the right "
                "configuration?): %s" % (", ".join(missing), "-c " + self.base[-1] if "-c" in self.base
                                         else "its default configuration", describe_output(rc, out, err)))
        bad = [s for s in found.values() if s.name in names and s.error and not s.unknown]
        if bad:
            raise ServiceError("supervisorctl status failed: %s" % "; ".join(
                "%s: %s" % (s.name, s.error) for s in bad))
        return dict((n, found[n]) for n in names)

    def start(self, name, timeout):
        return self.run(self.base + ["start", name], timeout=timeout)

    def stop(self, name, timeout):
        return self.run(self.base + ["stop", name], timeout=timeout)

    def _tail(self, name, n, channel):
        cmd = self.base + ["tail", "-%d" % max(n * 400, 1600), name] + ([channel] if channel else [])
        rc, out, _err = self.run(cmd, timeout=min(self.timeout, 30))
        if rc is None or _SUP_ERROR.match(out.strip()) or out.startswith("Error"):
            return []
        return tail_lines(out, n)

    def log_tail(self, name, n):
        lines = self._tail(name, n, None)
        lines += ["stderr: " + line for line in self._tail(name, n, "stderr")]
        return lines

    def cause(self, name, status):
        parts = []
        rc, out, _err = self.run(self.base + ["maintail", "-30000"], timeout=min(self.timeout, 30))
        if rc == 0:
            exit_cause = supervisor_exit_cause(out, name)
            if exit_cause:
                parts.append(exit_cause)
        desc = status.description or ""
        if desc and not status.up and not _SUP_DATE.match(desc) and desc != "Not started":
            parts.append(desc)
        return "supervisord: " + "; ".join(parts) if parts else ""


# ---------------------------------------------------------------------------------------------- systemd

SYSTEMD_PROPERTIES = ("LoadState", "ActiveState", "SubState", "MainPID", "ActiveEnterTimestampMonotonic",
                      "UnitFileState", "Result", "ExecMainCode", "ExecMainStatus")
SYSTEMD_DOWN = ("inactive", "failed")
SYSTEMD_ENABLED = ("enabled", "enabled-runtime")
# unit file states that enable/disable cannot or need not change
SYSTEMD_FIXED = ("static", "generated", "transient", "indirect", "alias", "masked", "masked-runtime", "linked",
                 "linked-runtime", "")
_EXIT_CODES = {"1": "exited", "2": "killed", "3": "dumped"}  # siginfo CLD_* codes of ExecMainCode


def parse_systemctl_show(text):
    """``systemctl show -p A,B name`` output (``Key=value`` lines) -> dict."""
    props = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def systemd_status(name, props, monotonic=None):
    """A :class:`Status` from ``systemctl show`` properties (``MainPID`` 0 means no pid known)."""
    load = props.get("LoadState", "")
    active = props.get("ActiveState", "")
    if load == "not-found" or not active:
        return Status(name, active or None, unknown=True, error="LoadState=%s" % (load or "missing"),
                      description="unit not found (LoadState=%s)" % (load or "missing"), extra=props)
    try:
        pid = int(props.get("MainPID") or 0) or None
    except ValueError:
        pid = None
    uptime = None
    try:
        since = int(props.get("ActiveEnterTimestampMonotonic") or 0)
    except ValueError:
        since = 0
    if active == "active" and since > 0 and monotonic is not None:
        uptime = max(0, int(monotonic - since / 1e6))
    desc = props.get("SubState", "")
    return Status(name, active, up=active == "active", down=active in SYSTEMD_DOWN, pid=pid, uptime=uptime,
                  description=desc, extra=props)


def systemd_cause(props):
    """``Result=exit-code, SubState=failed, main process exited with status 1`` from the properties."""
    parts = []
    if props.get("SubState"):
        parts.append("SubState=%s" % props["SubState"])
    if props.get("Result") and props["Result"] != "success":
        parts.append("Result=%s" % props["Result"])
    code = _EXIT_CODES.get(props.get("ExecMainCode", ""), "")
    status = props.get("ExecMainStatus", "")
    if code and status not in ("", None):
        parts.append("main process %s with %s %s" % (code, "status" if code == "exited" else "signal", status))
    return ", ".join(parts)


class SystemdManager(Manager):
    label = "systemd"
    starting_states = ("activating", "reloading")

    def __init__(self, systemctl="systemctl", monotonic=time.monotonic, **kw):
        super(SystemdManager, self).__init__(**kw)
        self.base = shlex.split(systemctl)
        self.monotonic = monotonic

    def read(self, names):
        out = {}
        for name in names:
            rc, text, err = self.run(self.base + ["show", "-p", ",".join(SYSTEMD_PROPERTIES), "--", name])
            props = parse_systemctl_show(text)
            if rc != 0 and not props:
                raise ServiceError("systemctl could not report the status of %s (is systemd running?): %s"
                                   % (name, describe_output(rc, text, err)))
            out[name] = systemd_status(name, props, self.monotonic())
        return out

    def still_starting(self, status):
        # activating/auto-restart is a crash loop (the main process died, systemd waits to restart it)
        return status.state in self.starting_states and status.description != "auto-restart"

    def start(self, name, timeout):
        return self.run(self.base + ["start", "--", name], timeout=timeout)

    def stop(self, name, timeout):
        return self.run(self.base + ["stop", "--", name], timeout=timeout)

    def daemon_reload(self):
        return self.run(self.base + ["daemon-reload"])

    def set_enabled(self, name, enabled):
        return self.run(self.base + ["enable" if enabled else "disable", "--", name])

    def log_tail(self, name, n):
        rc, out, _err = self.run(["journalctl", "-u", name, "-n", str(n), "--no-pager"],
                                 timeout=min(self.timeout, 30))
        if rc != 0:
            return []
        return [line for line in tail_lines(out, n) if not line.startswith("-- ")]

    def cause(self, name, status):
        text = systemd_cause(status.extra)
        return "systemd: " + text if text else ""


# ---------------------------------------------------------------------------------------------- command

class CommandManager(Manager):
    """Shell commands: ``status`` rc 0 = running, any other rc = stopped; optional ``pid`` prints the pid."""

    label = "command"
    starting_states = ("stopped",)  # a start command may return before the status says running

    def __init__(self, commands, **kw):
        super(CommandManager, self).__init__(**kw)
        self.commands = commands

    def _status(self, name):
        cmd = substitute(self.commands["status"], name)
        rc, out, err = self.run(cmd, shell=True)
        if rc is None or rc in CANNOT_RUN:
            return Status(name, None, unknown=True, error="status command %r %s" % (cmd, describe_output(rc, out, err)),
                          description="status command could not run")
        up = rc == 0
        pid = None
        if up and self.commands.get("pid"):
            prc, pout, _perr = self.run(substitute(self.commands["pid"], name), shell=True)
            if prc == 0 and pout.strip().isdigit():
                pid = int(pout.strip())
        return Status(name, "running" if up else "stopped", up=up, down=not up, pid=pid,
                      uptime=proc_uptime(pid) if pid else None,
                      description="" if up else "status command rc %s" % rc)

    def read(self, names):
        return dict((n, self._status(n)) for n in names)

    def read_one(self, name):
        st = self._status(name)
        if st.unknown:
            raise ServiceError("the status of %s could not be read: %s" % (name, st.error))
        return st

    def start(self, name, timeout):
        return self.run(substitute(self.commands["start"], name), shell=True, timeout=timeout)

    def stop(self, name, timeout):
        return self.run(substitute(self.commands["stop"], name), shell=True, timeout=timeout)

    def cause(self, name, status):
        return "command: " + status.description if status.description else ""


# ---------------------------------------------------------------------------------------------- controller

class ServiceController:
    """Bring ``names`` to ``state`` one after the other and prove it; :meth:`run` returns the result dict."""

    def __init__(self, manager, names, state="status", settle=5.0, timeout=60.0, probe_command=None,
                 http_url=None, http_status=200, log_file=None, log_pattern=None, log_lines=20,
                 check_mode=False, enabled=None, daemon_reload=False, runner=None, clock=time.monotonic,
                 sleep=time.sleep, wall=time.time, http_get=default_http_get):
        self.manager = manager
        self.names = list(names)
        self.state = state
        self.settle = float(settle or 0)
        self.timeout = float(timeout)
        self.probe_command = probe_command
        self.http_url = http_url
        self.http_status = http_status
        self.log_file = log_file
        self.log_lines = int(log_lines)
        self.check_mode = check_mode
        self.enabled = enabled
        self.daemon_reload = daemon_reload
        self.runner = runner or manager.runner
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.http_get = http_get
        self.log_regex = None
        if log_pattern:
            try:
                self.log_regex = re.compile(log_pattern)
            except re.error as exc:
                raise ServiceError("log_pattern %r is not a valid regular expression: %s" % (log_pattern, exc))
            if not log_file:
                raise ServiceError("log_pattern needs log_file")
        if not self.names:
            raise ServiceError("name must list at least one service")
        if self.state not in STATES:
            raise ServiceError("state must be one of %s" % ", ".join(STATES))
        if self.timeout <= 0:
            raise ServiceError("timeout must be positive")
        if self.settle < 0:
            raise ServiceError("settle must not be negative")
        if self.log_lines < 0:
            raise ServiceError("log_lines must not be negative")
        if (enabled is not None or daemon_reload) and not isinstance(manager, SystemdManager):
            raise ServiceError("enabled and daemon_reload are only for manager=systemd")
        self.actions = []
        self.services = {}
        self.started_at = None
        self.stopped_at = None
        self.reloaded = False
        self.touched = False  # a command that changes something was run
        self.t0 = None
        self.current = None
        self.pending = []

    # -- helpers

    def _ms(self):
        return int(self.wall() * 1000)

    def _record(self, status, before=False):
        rec = self.services.setdefault(status.name, dict(name=status.name, before=None, after=None, pid=None,
                                                         uptime=None, proof=[]))
        if before:
            rec["before"] = status.state
        rec["after"] = status.state
        rec["pid"] = status.pid
        rec["uptime"] = status.uptime
        if isinstance(self.manager, SystemdManager):
            ufs = status.extra.get("UnitFileState")
            rec["enabled"] = None if ufs in SYSTEMD_FIXED or ufs is None else ufs in SYSTEMD_ENABLED
        return rec

    def _read(self, name):
        st = self.manager.read_one(name)
        self._record(st)
        return st

    def _safe_tail(self, name=None):
        try:
            if self.log_file:
                return file_tail(self.log_file, self.log_lines)
            if self.log_lines <= 0:
                return []
            if name is not None:
                return self.manager.log_tail(name, self.log_lines)
            if len(self.names) == 1:
                return self.manager.log_tail(self.names[0], self.log_lines)
            lines = []
            for n in self.names:
                lines += ["%s: %s" % (n, line) for line in self.manager.log_tail(n, self.log_lines)]
            return lines
        except Exception:  # pylint: disable=broad-except
            return []  # the log tail is an aid; it never hides the real outcome

    def _result(self, log_tail=None):
        return dict(
            changed=bool(self.actions) and self.state != "status",
            actions=list(self.actions),
            services=[self.services[n] for n in self.names if n in self.services],
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            duration=round(self.clock() - self.t0, 3) if self.t0 is not None else 0.0,
            log_tail=log_tail if log_tail is not None else self._safe_tail(),
        )

    def _fail(self, reason, name=None, nothing_done=False):
        tail = self._safe_tail(name)
        done = [a for a in self.actions if not a.startswith("would ")]
        if nothing_done:
            msg = "%s. Nothing was done." % reason
        else:
            msg = "%s. Done: %s. Not done: %s." % (reason, ", ".join(done) if done else "nothing",
                                                   ", ".join(self.pending) if self.pending else "nothing")
        if tail:
            msg += " Last log lines: %s" % " | ".join(tail[-MSG_LOG_LINES:])
        result = self._result(log_tail=tail)
        result["changed"] = self.touched
        raise ServiceError(msg, **result)

    def _raw_cause(self, name, status):
        try:
            return self.manager.cause(name, status) or ""
        except Exception:  # pylint: disable=broad-except
            return ""

    def _cause(self, name, status):
        cause = self._raw_cause(name, status)
        return " (%s)" % cause if cause else ""

    # -- the task

    def run(self):
        self.t0 = self.clock()
        try:
            states = self.manager.read(self.names)
        except ServiceError as exc:
            self.pending = list(self.names)
            self._fail(exc.msg, nothing_done=True)
        for name in self.names:
            self._record(states[name], before=True)
        unknown = [states[n] for n in self.names if states[n].unknown]
        if unknown:
            self._fail("Unknown service%s for %s: %s" % (
                "s" if len(unknown) > 1 else "", self.manager.label,
                ", ".join("%s (%s)" % (s.name, s.error or s.description) for s in unknown)), nothing_done=True)
        if self.state == "status":
            return self._result()
        if self.check_mode:
            self._plan(states)
            result = self._result()
            result["changed"] = bool(self.actions)
            return result
        for i, name in enumerate(self.names):
            self.current = name
            self.pending = self.names[i + 1:]
            try:
                self._handle(name)
            except ServiceError as exc:
                if exc.details:  # already a complete failure
                    raise
                self._fail(exc.msg, name)  # a status read failed half-way: say what was done
        self.current = None
        self.pending = []
        result = self._result()
        result["changed"] = bool(self.actions)
        return result

    def _enable_change(self, status):
        if self.enabled is None:
            return None
        ufs = status.extra.get("UnitFileState", "")
        if ufs in SYSTEMD_FIXED:
            return None
        is_enabled = ufs in SYSTEMD_ENABLED
        return None if is_enabled == self.enabled else ("enable" if self.enabled else "disable")

    def _plan(self, states):
        for name in self.names:
            st = states[name]
            change = self._enable_change(st)
            if change:
                self.actions.append("would %s %s" % (change, name))
            if self.state == "started" and not st.up:
                self.actions.append("would start %s" % name)
            elif self.state == "stopped" and not st.down:
                self.actions.append("would stop %s" % name)
            elif self.state == "restarted":
                # a service that is not running has nothing to stop: its restart is a start
                self.actions.append("would %s %s" % ("start" if st.down else "restart", name))

    def _handle(self, name):
        st = self._read(name)
        if st.unknown:  # the command manager reads without raising
            self._fail("the status of %s could not be read: %s" % (name, st.error), name)
        change = self._enable_change(st)
        if change:
            self.touched = True
            rc, out, err = self.manager.set_enabled(name, self.enabled)
            if rc != 0:
                self._fail("systemctl %s %s failed: %s" % (change, name, describe_output(rc, out, err)), name)
            self.actions.append("%sd %s" % (change, name))
            st = self._read(name)
        if self.state == "started":
            if st.up:
                self._probe(name, st, log_offset=None)
                self._read(name)
            else:
                self._start(name)
        elif self.state == "stopped":
            if not st.down:
                self._stop(name, st)
        elif self.state == "restarted":
            if not st.down:
                self._stop(name, st)
            self._start(name)

    def _stop(self, name, status):
        deadline = self.clock() + self.timeout
        self.touched = True
        rc, out, err = self.manager.stop(name, self.timeout)
        while True:
            st = self._read(name)
            if st.down:
                break
            if self.clock() >= deadline:
                self._fail("%s did not stop within %g s: still %s%s (stop command %s)" % (
                    name, self.timeout, st.state, self._cause(name, st), describe_output(rc, out, err)), name)
            self.sleep(max(0, min(POLL, deadline - self.clock())))
        self.stopped_at = self._ms()
        self.actions.append("stopped %s" % name)
        self.services[name]["proof"].append("%s after the stop" % st.state)

    def _start(self, name):
        if self.daemon_reload and not self.reloaded:
            self.touched = True
            rc, out, err = self.manager.daemon_reload()
            if rc != 0:
                self._fail("systemctl daemon-reload failed: %s" % describe_output(rc, out, err), name)
            self.reloaded = True
            self.actions.append("daemon-reload")
        log_offset = file_size(self.log_file) if self.log_regex else None
        if self.started_at is None:
            self.started_at = self._ms()
        t_start = self.clock()
        deadline = t_start + self.timeout
        self.touched = True
        rc, out, err = self.manager.start(name, self.timeout)
        if rc is None:
            st = self._read(name)
            self._fail("the start command of %s did not return within %g s (state %s)" % (
                name, self.timeout, st.state), name)
        # wait until the service is seen up (the start command's word is not enough)
        while True:
            st = self._read(name)
            if st.up:
                break
            if rc != 0 or not self.manager.still_starting(st):
                self._fail("%s did not start: %s%s after its start command (%s)" % (
                    name, st.state, self._cause(name, st), describe_output(rc, out, err)), name)
            if self.clock() >= deadline:
                self._fail("%s did not come up within %g s: still %s%s" % (
                    name, self.timeout, st.state, self._cause(name, st)), name)
            self.sleep(max(0, min(POLL, deadline - self.clock())))
        self._settle(name, st)
        self._probe(name, st, log_offset)
        st_final = self._read(name)
        self._check_same(name, st, st_final, "during its probes")
        self.actions.append("started %s" % name)

    def _check_same(self, name, first, now, when, elapsed=None):
        if elapsed is None:
            where = when
        else:
            where = "after %.1f s of a %g s settle" % (elapsed, self.settle)
        if not now.up:
            self._fail("%s did not stay up after its start: %s %s%s" % (
                name, now.state, where, self._cause(name, now)), name)
        if first.pid and now.pid and first.pid != now.pid:
            cause = self._raw_cause(name, now)
            prefix = self.manager.label + ": "
            cause = cause[len(prefix):] if cause.startswith(prefix) else cause
            self._fail("%s did not stay up after its start: its pid changed from %s to %s %s (restarted by %s%s)"
                       % (name, first.pid, now.pid, where, self.manager.label, "; " + cause if cause else ""), name)

    def _settle(self, name, first):
        if self.settle <= 0:
            return
        t0 = self.clock()
        end = t0 + self.settle
        polls = 0
        while True:
            remaining = end - self.clock()
            if remaining <= 0:
                break
            self.sleep(min(POLL, remaining))
            st = self._read(name)
            polls += 1
            self._check_same(name, first, st, None, elapsed=self.clock() - t0)
            if first.pid is None and st.pid:
                first = st
        self.services[name]["proof"].append("stayed %s for %g s with pid %s (%d polls)" % (
            first.state, self.settle, first.pid if first.pid else "unknown", polls))

    def _probe(self, name, status, log_offset):
        proof = self.services[name]["proof"]
        if self.probe_command:
            cmd = substitute(self.probe_command, name)
            deadline = self.clock() + self.timeout
            tries = 0
            while True:
                tries += 1
                rc, out, err = self.runner(cmd, shell=True, timeout=max(0.1, deadline - self.clock()))
                if rc == 0:
                    proof.append("probe_command rc 0 (try %d)" % tries)
                    break
                if self.clock() >= deadline:
                    self._fail("the probe_command of %s did not succeed within %g s (%d tries, last %s)" % (
                        name, self.timeout, tries, describe_output(rc, out, err)), name)
                self.sleep(max(0, min(PROBE_POLL, deadline - self.clock())))
        if self.http_url:
            url = substitute(self.http_url, name)
            deadline = self.clock() + self.timeout
            tries = 0
            while True:
                tries += 1
                try:
                    got = self.http_get(url, max(0.1, min(10.0, deadline - self.clock())))
                    last = "HTTP %s" % got
                except Exception as exc:  # pylint: disable=broad-except
                    # any failure to answer (refused, TLS, timeout) is retried until the timeout
                    got = None
                    last = str(getattr(exc, "reason", None) or exc)
                if got == self.http_status:
                    proof.append("%s answered HTTP %s (try %d)" % (url, got, tries))
                    break
                if self.clock() >= deadline:
                    self._fail("%s did not answer HTTP %s within %g s for %s (%d tries, last: %s)" % (
                        url, self.http_status, self.timeout, name, tries, last), name)
                self.sleep(max(0, min(PROBE_POLL, deadline - self.clock())))
        if self.log_regex is not None and log_offset is not None:
            line = self._wait_log(log_offset, name, status)
            if line is None:
                self._fail("no line matching %r appeared in %s within %g s after the start of %s" % (
                    self.log_regex.pattern, self.log_file, self.timeout, name), name)
            proof.append("log line: %s" % short(line, 200))

    def _wait_log(self, offset, name=None, first=None):
        """The first line matching log_pattern written after ``offset`` (re-read from 0 if the file shrank).

        While it waits, the process must stay up with the pid it started with (checked about once a second):
        a process that exits or is restarted meanwhile fails at once, with its cause, not at the timeout.
        """
        deadline = self.clock() + self.timeout
        pos = offset
        partial = b""
        checked = self.clock()
        while True:
            if first is not None and self.clock() - checked >= 1.0:
                checked = self.clock()
                self._check_same(name, first, self._read(name), "while waiting for a line matching %r in %s"
                                 % (self.log_regex.pattern, self.log_file))
            if file_size(self.log_file) < pos:  # truncated or rotated since the start
                pos, partial = 0, b""
            try:
                with open(self.log_file, "rb") as fh:
                    fh.seek(pos)
                    data = fh.read()
            except (IOError, OSError):
                data = b""
            if data:
                pos += len(data)
                chunks = (partial + data).split(b"\n")
                partial = chunks.pop()
                for raw in chunks:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    if self.log_regex.search(line):
                        return line
            if partial and self.log_regex.search(partial.decode("utf-8", "replace")):
                return partial.decode("utf-8", "replace")
            if self.clock() >= deadline:
                return None
            self.sleep(max(0, min(POLL, deadline - self.clock())))


def build_manager(manager, runner=default_runner, timeout=60.0, supervisorctl="supervisorctl",
                  supervisor_config=None, systemctl="systemctl", commands=None, monotonic=time.monotonic):
    if manager == "supervisord":
        return SupervisordManager(supervisorctl=supervisorctl, config=supervisor_config, runner=runner, timeout=timeout)
    if manager == "systemd":
        return SystemdManager(systemctl=systemctl, runner=runner, timeout=timeout, monotonic=monotonic)
    if manager == "command":
        if not commands or not all((commands.get(k) or "").strip() for k in ("start", "stop", "status")):
            raise ServiceError("manager=command needs commands with start, stop and status")
        return CommandManager(commands, runner=runner, timeout=timeout)
    raise ServiceError("manager must be one of %s" % ", ".join(MANAGERS))
