# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consumer groups on an Alibaba Cloud ApsaraMQ for Kafka target (``api: alibaba``).

On that service a consumer group must exist (GetConsumerList / CreateConsumerGroup, OpenAPI) before
its consumers can commit, unless the instance creates groups on its own. Where a group starts is still
set over the Kafka protocol (OffsetCommit / AlterConsumerGroupOffsets), the same call as for any target,
so the group sync's plan, its never-rewind rule and its checks are the same; this module adds the
groups' names and their creation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba


class GroupPlan:
    """The groups of a run on an Alibaba target: which exist, which would be created, which names are refused."""

    def __init__(self, api, names):
        self.api = api
        self.names = list(names)
        problems = [(n, alibaba.name_problem(n, api.name_rule, what="group")) for n in self.names]
        self.refused = dict((n, why) for n, why in problems if why)
        self.existing = set()
        self.create = []

    def read(self):
        """The instance must run; read its groups once (paged)."""
        self.api.require_running()
        self.existing = set(self.api.groups())
        self.create = sorted(n for n in self.names if n not in self.existing and n not in self.refused)
        return self

    def problems(self):
        return ["group %r: the target refuses its name (%s); the application's group.id would have to change, "
                "which this collection never does on its own" % (n, why) for n, why in sorted(self.refused.items())]

    def apply(self):
        """Create the missing groups (one call each: the API has no batch call); returns the created names.
        A failure raises :class:`alibaba.AlibabaError` naming what was created before it."""
        created = []
        for name in self.create:
            try:
                self.api.create_group(name, remark=alibaba.remark_for(name))
            except alibaba.AlibabaError as exc:
                # a retried call whose first attempt went through answers "already exists": look once
                if name in self.api.groups():
                    created.append(name)
                    continue
                raise alibaba.AlibabaError("%s; groups created before: %s" % (exc.msg, ", ".join(created) or "none"),
                                           code=exc.code, action=exc.action, created_groups=created)
            created.append(name)
        missing = sorted(set(self.create) - set(self.api.groups()))
        if missing:
            raise alibaba.AlibabaError("CreateConsumerGroup answered success, but the instance does not list group(s) %s"
                                       % ", ".join(missing), created_groups=created)
        return created

    def api_calls(self):
        return {"calls": self.api.calls, "throttled": self.api.throttled,
                "rate_limit": self.api.options.get("rate_limit") or 1.0, "rate_limit_wait": round(self.api.limit.waited, 3)}
