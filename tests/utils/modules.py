"""Run a module's ``main()`` in-process with given arguments (the set_module_args style).

``run_module(module, args)`` returns the result of ``exit_json``; a ``fail_json`` raises
:class:`FailJson` carrying the result. Check mode and diff are ordinary ``_ansible_*`` arguments.
"""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", "exit_json"))
        self.result = result


class FailJson(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", "fail_json"))
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise FailJson(kwargs)


def run_module(module, args, check_mode=False, diff=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    mp = pytest.MonkeyPatch()
    mp.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    mp.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    try:
        with patch_module_args(args):
            module.main()
    except ExitJson as done:
        return done.result
    finally:
        mp.undo()
    raise AssertionError("module returned without exit_json/fail_json")
