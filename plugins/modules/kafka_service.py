#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_service
short_description: Start, stop or restart an application's services and prove the state they end in
version_added: 0.1.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Controls the services of an application (the producers and consumers being moved) with systemd,
    supervisord or plain shell commands, and B(proves) the state they end in instead of trusting the manager.
  - The status of every name is read first, before anything is done; an unknown service (supervisord
    C(no such process), systemd C(LoadState=not-found), a O(commands.status) command the shell cannot run)
    or a manager that cannot be reached fails the task without changing anything.
  - The names are then handled one after the other, in the order given. The task stops at the first
    failure; its message says what failed and why, what was done before and what was not done, and quotes the
    last log lines.
  - After a start the service must be seen running (a start command's exit code or supervisord's C(started)
    is never enough), then stay running with the B(same pid) for O(settle) seconds, polled every 0.25
    seconds. Any other state during that time (for supervisord C(EXITED), C(FATAL), C(BACKOFF), C(STOPPED); for
    systemd C(failed), C(inactive), C(activating) in C(auto-restart)) or a new pid (an automatic restart) fails
    the task. A supervisord program with C(startsecs=0) that exits after a few seconds is caught this way.
  - Then the optional probes must succeed, each within O(timeout) - O(probe_command), O(http_url), and a
    line matching O(log_pattern) written to O(log_file) after the start - and the service must still run with
    the same pid.
  - A stop is graceful (C(supervisorctl stop), C(systemctl stop) or O(commands.stop)) and is proven by the
    manager reporting the service stopped within O(timeout).
options:
  name:
    description:
      - The services - systemd units, supervisord programs (C(group:program) for a program of a group), or,
        with O(manager=command), the names put into the O(commands).
      - All are handled, in this order.
    type: list
    elements: str
    required: true
  manager:
    description:
      - What runs the services.
      - V(command) runs the shell commands of O(commands).
    type: str
    choices: [systemd, supervisord, command]
    required: true
  state:
    description:
      - V(started) starts the services that are not running and proves them up; running ones are left alone
        (O(probe_command) and O(http_url) still have to succeed for them) and the task reports no change when
        all were running.
      - V(stopped) stops the running ones (also those on their way up or crash-looping) and proves them stopped.
      - V(restarted) stops each service (proven), then starts it (proven); it always reports a change.
      - V(status) only reads the state, the pids and the log tail; it changes nothing.
    type: str
    choices: [started, stopped, restarted, status]
    default: status
  supervisorctl:
    description:
      - The supervisorctl command, split like a shell would (for example V(sudo supervisorctl) or a full path).
      - Only with O(manager=supervisord).
    type: str
    default: supervisorctl
  supervisor_config:
    description:
      - The supervisord configuration file, given to supervisorctl as C(-c FILE) (it names the socket).
      - Without it supervisorctl looks for its default configuration.
    type: path
  systemctl:
    description:
      - The systemctl command, split like a shell would (for example V(systemctl --user)).
      - Only with O(manager=systemd).
    type: str
    default: systemctl
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) once before the first start (also of a restart), so that new or changed
        unit files and drop-ins are used.
      - Only with O(manager=systemd).
    type: bool
    default: false
  enabled:
    description:
      - Enable (V(true)) or disable (V(false)) the units for boot, before their O(state) is applied. Units whose
        unit file state cannot be changed (C(static), C(masked), ...) are left alone.
      - Only with O(manager=systemd). When not set, the unit file state is not touched.
    type: bool
  commands:
    description:
      - The shell commands of O(manager=command) (required then). In each, C({name}) is replaced by the service
        name as it is; quote it in the command where needed.
      - A command's output does not block the task, so a start command may leave a daemon behind
        (C(sleep 300 & echo $! > pidfile)).
    type: dict
    suboptions:
      start:
        description: Starts the service.
        type: str
        required: true
      stop:
        description: Stops the service gracefully.
        type: str
        required: true
      status:
        description:
          - Exit code 0 means running, any other code means stopped, except 126 and 127 (the shell could
            not run the command) and no exit within O(timeout), which make the service unknown.
        type: str
        required: true
      pid:
        description:
          - Prints the pid of the running service. Without it (or when it prints no number) the pid is unknown and
            O(settle) relies on O(commands.status) alone.
        type: str
  settle:
    description:
      - Seconds a service must stay running with the same pid after its start.
      - V(0) only requires it to be seen running once.
    type: float
    default: 5.0
  timeout:
    description:
      - Bound in seconds of each wait - each stop (the stop command and its proof), each start (the start command
        and the wait until the service is seen running), each probe - and of every command run.
      - O(settle) comes on top of it.
    type: float
    default: 60.0
  probe_command:
    description:
      - A shell command (C({name}) replaced by the service name) that must exit with 0 after the O(settle) time;
        retried every half second until O(timeout).
      - Also required of services that were already running with O(state=started).
    type: str
  http_url:
    description:
      - A URL (C({name}) replaced by the service name) that must answer a GET with O(http_status) after the
        O(settle) time; retried every half second until O(timeout). Certificates are verified.
      - Also required of services that were already running with O(state=started).
    type: str
  http_status:
    description: The HTTP status O(http_url) must answer.
    type: int
    default: 200
  log_file:
    description:
      - The application's log file.
      - When given, RV(log_tail) is read from it instead of from the manager.
    type: path
  log_pattern:
    description:
      - A regular expression (Python, C(re.search)) that a line of O(log_file) written B(after) the start must
        match within O(timeout), for example the line an application writes once it is ready. The file is read
        from the size it had just before the start command (from its beginning if it shrank - rotated or truncated).
      - Requires O(log_file). Not checked for services that were already running.
    type: str
  log_lines:
    description:
      - How many last log lines to return as RV(log_tail) (also with O(state=status), and always in a failed
        result).
      - They come from O(log_file), otherwise from the manager - C(supervisorctl tail) (the program's stdout
        log, then its stderr log with lines prefixed C(stderr:)), C(journalctl -u NAME -n N --no-pager) - or
        there are none (O(manager=command)).
    type: int
    default: 20
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only the status is read; RV(actions) says what would be done (C(would start p1)).
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Run the task on the host of the services (the commands, files and HTTP requests are local to it), with the
    privileges the manager needs (C(become)).
  - Process groups are not expanded; give each supervisord program as C(group:program).
  - The systemd support (C(systemctl show -p ActiveState,SubState,MainPID,LoadState,...) parsing) is tested with
    recorded output only; the collection's tests cannot run systemd. supervisord and the command manager are
    tested against real processes.
  - Check mode runs no probe and no O(commands) other than O(commands.status) and O(commands.pid).
seealso:
  - module: ansible.builtin.systemd_service
  - module: community.general.supervisorctl
"""

EXAMPLES = r"""
- name: Stop the old consumers and prove them stopped
  kafkaops.migration.kafka_service:
    name: [billing-consumer, shipping-consumer]
    manager: systemd
    state: stopped
    timeout: 120

- name: Start the consumers on the new cluster; each must stay up 10 s, answer its health check and log "ready"
  kafkaops.migration.kafka_service:
    name: [billing-consumer]
    manager: supervisord
    supervisor_config: /etc/supervisor/supervisord.conf
    state: started
    settle: 10
    http_url: http://127.0.0.1:8080/health
    log_file: /var/log/billing/consumer.log
    log_pattern: 'partitions assigned'
  register: kafka_consumers

- name: Restart producers after a drop-in changed their bootstrap servers, enabled for boot
  kafkaops.migration.kafka_service:
    name: [orders-producer]
    manager: systemd
    state: restarted
    daemon_reload: true
    enabled: true
    probe_command: /opt/orders/bin/healthcheck --service {name}

- name: An application started by its own scripts
  kafkaops.migration.kafka_service:
    name: [reporting]
    manager: command
    state: started
    commands:
      start: /opt/{name}/bin/start.sh
      stop: /opt/{name}/bin/stop.sh
      status: test -e /proc/$(cat /run/{name}.pid)
      pid: cat /run/{name}.pid

- name: Report the state of the services, with the last 50 log lines
  kafkaops.migration.kafka_service:
    name: [billing-consumer]
    manager: supervisord
    log_lines: 50
"""

RETURN = r"""
actions:
  description:
    - What was done, in order (C(stopped p1), C(started p1), C(enabled p1), C(disabled p1), C(daemon-reload)); a
      start or stop is listed once proven.
    - In check mode what would be done (C(would stop p1), C(would start p1), C(would restart p1), C(would enable p1)).
  returned: always
  type: list
  elements: str
  sample: [stopped billing-consumer, started billing-consumer]
services:
  description: One entry per service handled (in a failed result, those read so far), in the order of O(name).
  returned: always
  type: list
  elements: dict
  sample:
    - name: billing-consumer
      before: RUNNING
      after: RUNNING
      pid: 4242
      uptime: 6
      proof: [STOPPED after the stop, stayed RUNNING for 5 s with pid 4242 (20 polls)]
  contains:
    name:
      description: The service.
      type: str
    before:
      description:
        - The manager's state word when the task started - supervisord C(RUNNING), C(STOPPED), C(EXITED), C(FATAL),
          C(BACKOFF), C(STARTING), C(STOPPING); systemd C(active), C(inactive), C(failed), C(activating),
          C(deactivating); command C(running), C(stopped). Null when the service is unknown.
      type: str
    after:
      description: The state word at the last read.
      type: str
    pid:
      description: The pid at the last read, or null (not running, or not known).
      type: int
    uptime:
      description: Seconds the service has been running at the last read, or null.
      type: int
    proof:
      description: What was seen that proves the final state.
      type: list
      elements: str
    enabled:
      description: With O(manager=systemd), whether the unit is enabled; null when its unit file state is fixed.
      type: bool
started_at:
  description: Epoch milliseconds taken just before the first start command of the task; null when nothing was started.
  returned: always
  type: int
  sample: 1764650000123
stopped_at:
  description: Epoch milliseconds taken once the last stop was proven; null when nothing was stopped.
  returned: always
  type: int
  sample: 1764649998042
duration:
  description: Seconds the task took.
  returned: always
  type: float
  sample: 7.25
log_tail:
  description:
    - The last O(log_lines) log lines (see O(log_lines) for where they come from). In a failed result they are
      those of the service that failed.
    - With several names and no O(log_file), each service's lines, prefixed with C(NAME:).
  returned: always
  type: list
  elements: str
  sample: ["2026-12-02 04:36:01 INFO ready"]
"""

from ansible_collections.kafkaops.migration.plugins.module_utils import args
from ansible_collections.kafkaops.migration.plugins.module_utils.service import (
    MANAGERS,
    STATES,
    ServiceController,
    ServiceError,
    build_manager,
)


def argument_spec():
    return dict(
        name=dict(type="list", elements="str", required=True),
        manager=dict(type="str", choices=list(MANAGERS), required=True),
        state=dict(type="str", choices=list(STATES), default="status"),
        supervisorctl=dict(type="str", default="supervisorctl"),
        supervisor_config=dict(type="path"),
        systemctl=dict(type="str", default="systemctl"),
        daemon_reload=dict(type="bool", default=False),
        enabled=dict(type="bool"),
        commands=dict(type="dict", options=dict(
            start=dict(type="str", required=True),
            stop=dict(type="str", required=True),
            status=dict(type="str", required=True),
            pid=dict(type="str"),
        )),
        settle=dict(type="float", default=5.0),
        timeout=dict(type="float", default=60.0),
        probe_command=dict(type="str"),
        http_url=dict(type="str"),
        http_status=dict(type="int", default=200),
        log_file=dict(type="path"),
        log_pattern=dict(type="str"),
        log_lines=dict(type="int", default=20),
    )


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True,
                              required_if=[("manager", "command", ["commands"])],
                              required_by={"log_pattern": "log_file"})
    p = module.params
    empty = dict(changed=False, actions=[], services=[], started_at=None, stopped_at=None, duration=0.0,
                 log_tail=[])
    try:
        manager = build_manager(p["manager"], timeout=p["timeout"], supervisorctl=p["supervisorctl"],
                                supervisor_config=p["supervisor_config"], systemctl=p["systemctl"],
                                commands=p["commands"])
        controller = ServiceController(
            manager, p["name"], state=p["state"], settle=p["settle"], timeout=p["timeout"],
            probe_command=p["probe_command"], http_url=p["http_url"], http_status=p["http_status"],
            log_file=p["log_file"], log_pattern=p["log_pattern"], log_lines=p["log_lines"],
            check_mode=module.check_mode, enabled=p["enabled"], daemon_reload=p["daemon_reload"])
    except ServiceError as exc:
        module.fail_json(msg=exc.msg, **dict(empty, **exc.details))
    try:
        result = controller.run()
    except ServiceError as exc:
        module.fail_json(msg=exc.msg, **dict(empty, **exc.details))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
