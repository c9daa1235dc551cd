"""Run ansible-playbook against localhost with this collection and the test clusters."""

import json
import os
import re
import subprocess
import sys

from tests.utils.collection import collections_root


def run_playbook(playbook, extra_vars=None, check=False, diff=False, tags=None, timeout=600, verbosity=0, env=None):
    """Run a playbook; return ``(returncode, stdout+stderr)``. ``extra_vars`` is a dict or a file path;
    ``verbosity`` 3 is ``-vvv``; ``env`` adds environment variables (e.g. ``ANSIBLE_LOG_PATH``)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
           "-c", "local", playbook]
    if isinstance(extra_vars, dict):
        cmd += ["-e", json.dumps(extra_vars)]
    elif extra_vars:
        cmd += ["-e", "@" + extra_vars]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    extra_env = env or {}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env.update(extra_env)
    proc = subprocess.run(cmd, env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return proc.returncode, proc.stdout


RECAP_LINE = re.compile(r"^localhost\s+:\s+(.*)$", re.M)


def play_recap(output):
    """The PLAY RECAP counters of localhost: ``{"ok": 2, "changed": 1, "failed": 0, ...}``."""
    found = RECAP_LINE.findall(output)
    assert found, "no PLAY RECAP line for localhost in:\n" + output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found[-1])}


def task_status(output, task_name):
    """What Ansible printed for the task named ``task_name``: ``ok``, ``changed``, ``skipping``, ``fatal``..."""
    block = output.split("TASK [%s]" % task_name, 1)
    assert len(block) == 2, "task %r not in the output:\n%s" % (task_name, output)
    found = re.search(r"^(ok|changed|skipping|fatal|failed): \[localhost\]", block[1], re.M)
    assert found, "no status line for task %r in:\n%s" % (task_name, block[1])
    return found.group(1)


class TaskRun:
    """One module task run through ansible-playbook: rc, output, the registered result, recap, status."""

    TASK = "Module under test"

    def __init__(self, rc, output, result):
        self.rc = rc
        self.output = output
        self.result = result
        self.recap = play_recap(output)
        self.status = task_status(output, self.TASK)


def run_module_task(module, args, workdir, check=False, diff=False, ignore_errors=False, timeout=600):
    """Run ``kafkaops.migration.<module>`` with ``args`` as the one task of a play on localhost,
    register its result and write it to a JSON file (a copy task that reports no change and runs in
    check mode too); return a :class:`TaskRun`. The play's recap then counts the module task plus one
    ``ok`` for the copy task."""
    workdir = str(workdir)
    out_file = os.path.join(workdir, "%s-result-%d.json" % (module, len(os.listdir(workdir))))
    task = {"name": TaskRun.TASK, "kafkaops.migration." + module: args, "register": "module_result"}
    if ignore_errors:
        task["ignore_errors"] = True
    play = [{"name": "Run %s once" % module, "hosts": "localhost", "gather_facts": False, "tasks": [
        task,
        {"name": "Write the registered result", "ansible.builtin.copy": {
            "content": "{{ module_result | to_json }}", "dest": out_file, "mode": "0600"},
         "changed_when": False, "check_mode": False},
    ]}]
    playbook = out_file[:-len(".json")] + ".yml"
    with open(playbook, "w") as fh:
        json.dump(play, fh)  # JSON is YAML
    rc, output = run_playbook(playbook, check=check, diff=diff, timeout=timeout)
    assert os.path.exists(out_file), "the result was not written (rc %d):\n%s" % (rc, output)
    with open(out_file) as fh:
        result = json.load(fh)
    return TaskRun(rc, output, result)
