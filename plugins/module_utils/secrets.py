# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which settings hold secrets, and the secret values hidden in free-form settings.

Declared options such as ``sasl_password`` are ``no_log`` in their argument spec and Ansible masks
them itself. Free-form dicts (a cluster's ``config``, kafka_client_config's ``settings``, the
MirrorMaker 2 ``config`` / ``connector_config``) can hold secrets too, under keys such as
``sasl.password``; :func:`secret_values` finds them so that the module adds them to Ansible's
``no_log_values`` before anything is logged or returned (see ``args.KafkaModule``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# A key whose value is a secret: passwords, secrets, tokens, credentials, JAAS configs, private keys.
SECRET_KEY_RE = re.compile(r"(password|secret|jaas\.config|keystore\.key|key\.pem|credentials|token|user\.info)", re.IGNORECASE)

# Option names of free-form dicts whose entries are client, connector or application settings.
FREE_FORM_OPTIONS = ("config", "settings", "connector_config")

# password="..." (or '...', or bare) inside a JAAS config line
_JAAS_PASSWORD_RE = re.compile(r"""\b[\w.-]*(?:password|secret)[\w.-]*\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s;]+)""", re.IGNORECASE)


def is_secret_key(key):
    """Whether the value of a setting named ``key`` is a secret."""
    return bool(SECRET_KEY_RE.search(str(key)))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _secrets_of(key, value):
    out = set()
    for leaf in _leaves(value):
        if not leaf:
            continue
        out.add(leaf)
        if str(key).lower().endswith("jaas.config"):
            for match in _JAAS_PASSWORD_RE.finditer(leaf):
                inner = match.group(1)
                if inner[:1] in "\"'" and inner[-1:] == inner[:1] and len(inner) > 1:
                    inner = inner[1:-1]
                if inner:
                    out.add(inner)
    return out


def secret_values(params, _inside=False):
    """Every secret value held under a secret key of a free-form dict anywhere in ``params``.

    Walks nested dicts and lists; inside a :data:`FREE_FORM_OPTIONS` dict, each entry whose key
    :func:`is_secret_key` gives every string it holds (and, for a JAAS config, the password in it).
    """
    found = set()
    if isinstance(params, dict):
        for key, value in params.items():
            if _inside and is_secret_key(key):
                found |= _secrets_of(key, value)
            else:
                found |= secret_values(value, _inside or key in FREE_FORM_OPTIONS)
    elif isinstance(params, (list, tuple)):
        for value in params:
            found |= secret_values(value, _inside)
    return found
