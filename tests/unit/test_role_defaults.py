"""Every role option that meta/argument_specs.yml gives a default has that default in defaults/main.yml.

Ansible does not apply argument-spec defaults to variables: an option documented with a default but
missing from defaults/main.yml is undefined when the user leaves it out (``'kafka_evaluate_target' is
undefined`` before this test existed)."""

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(glob.glob(os.path.join(ROOT, "roles", "*")))


@pytest.mark.parametrize("role", ROLES, ids=[os.path.basename(r) for r in ROLES])
def test_argument_spec_defaults_are_role_defaults(role):
    with open(os.path.join(role, "meta", "argument_specs.yml")) as fh:
        specs = yaml.safe_load(fh)["argument_specs"]
    defaults_path = os.path.join(role, "defaults", "main.yml")
    defaults = {}
    if os.path.exists(defaults_path):
        with open(defaults_path) as fh:
            defaults = yaml.safe_load(fh) or {}
    wrong = []
    for entry in specs.values():
        for name, option in (entry.get("options") or {}).items():
            if "default" not in option:
                continue
            if name not in defaults:
                wrong.append("%s: documented default %r, missing from defaults/main.yml" % (name, option["default"]))
            elif defaults[name] != option["default"] and "{{" not in str(defaults[name]):  # templated: evaluated at run
                wrong.append("%s: documented default %r, defaults/main.yml has %r" % (name, option["default"], defaults[name]))
    assert not wrong, "; ".join(wrong)
