# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one admin layer: what every step reads from a cluster, and the rules every step shares.

Plain Python (no AnsibleModule here). Every module reads clusters through this layer, so that a
topic is internal, selected, or lagging by one definition only:

* :func:`is_internal` / :func:`internal_kind`: the one internal-topic rule (Kafka's ``__`` topics,
  MirrorMaker 2, Kafka Connect, Schema Registry, Confluent Platform). Internal topics are never
  selected, whatever the patterns say.
* :class:`Selection`: the one topic-selection vocabulary, ``include`` and ``exclude``: lists of
  Python regular expressions matched against the *whole* topic name (``re.fullmatch``).
* :func:`target_topic_name`: the one renaming rule from a source topic to its target topic
  (``prefix`` + name + ``suffix``), used by topic sync, the copy and group sync.
* :func:`ensure_distinct`: two clusters are compared by cluster id (DescribeCluster), never by how
  their addresses are spelled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError

# ---------------------------------------------------------------------------------------------
# The internal-topic rule
# ---------------------------------------------------------------------------------------------
# (pattern on the whole name, what owns such a topic). Kafka's "__" topics (__consumer_offsets,
# __transaction_state, __cluster_metadata, probes), MirrorMaker 2's heartbeats / checkpoints /
# offset-syncs / Connect internals, Kafka Connect's storage topics (default and "connect-cluster-"
# names), the Schema Registry's _schemas, Confluent Platform's _confluent* topics, and this
# collection's own offset map (its default name; a custom one is passed as ``extra_excluded``).
INTERNAL_TOPIC_RULES = (
    (r"__consumer_offsets", "consumer offsets"),
    (r"__transaction_state", "transaction state"),
    (r"__share_group_state", "share group state"),
    (r"__cluster_metadata", "KRaft metadata"),
    (r"__.*", "Kafka internal (name starts with __)"),
    (r"_confluent.*", "Confluent Platform"),
    (r"_schemas", "Schema Registry"),
    (r"mm2-(offset-syncs|configs|offsets|status)\..*\.internal", "MirrorMaker 2"),
    (r".*\.checkpoints\.internal", "MirrorMaker 2"),
    (r"(.*\.)?heartbeats", "MirrorMaker 2"),
    (r"connect-(cluster-)?(configs|offsets|status)", "Kafka Connect"),
    (r"kafkaops\.mirror\.offsets", "kafkaops.migration offset map (the copy's progress)"),
)
INTERNAL_TOPIC_PATTERNS = [p for p, _kind in INTERNAL_TOPIC_RULES]
_INTERNAL_RULES = [(re.compile(p), kind) for p, kind in INTERNAL_TOPIC_RULES]


def internal_kind(name, flagged=False):
    """What owns topic ``name`` when it is internal (e.g. ``"MirrorMaker 2"``), else None.

    ``flagged`` is the broker's own ``is_internal`` flag from the metadata.
    """
    for pattern, kind in _INTERNAL_RULES:
        if pattern.fullmatch(name):
            return kind
    return "Kafka internal" if flagged else None


def is_internal(name, flagged=False):
    """True for topics that belong to Kafka, MirrorMaker 2, Connect or the Schema Registry."""
    return internal_kind(name, flagged) is not None


# ---------------------------------------------------------------------------------------------
# The topic-selection vocabulary
# ---------------------------------------------------------------------------------------------
SELECTION_OPTION_SPEC = dict(
    include=dict(type="list", elements="str"),
    exclude=dict(type="list", elements="str", default=[]),
)


def compile_patterns(patterns, option):
    """Compiled regular expressions; a bad one raises KafkaOpsError naming the option."""
    out = []
    for pattern in patterns or []:
        try:
            out.append(re.compile(pattern))
        except (re.error, TypeError) as exc:
            raise KafkaOpsError("%s: %r is not a valid regular expression: %s" % (option, pattern, exc))
    return out


class Selection:
    """``include`` / ``exclude`` regular expressions on whole topic names; internal topics never.

    ``include`` None (not given) selects every non-internal topic; an empty list selects none.
    ``extra_excluded`` are names never selected either (e.g. the copy's own offset-map topic).
    """

    def __init__(self, include=None, exclude=None, extra_excluded=()):
        self.include_given = include is not None
        self.include = compile_patterns([".*"] if include is None else include, "include")
        self.exclude = compile_patterns(exclude, "exclude")
        self.extra_excluded = frozenset(extra_excluded or ())

    def why_not(self, name):
        """``(matched_include, reason)``: reason is None when ``name`` is selected."""
        if not any(p.fullmatch(name) for p in self.include):
            return False, "matches no include pattern"
        kind = internal_kind(name)
        if kind is not None:
            return True, "internal topic (%s)" % kind
        if name in self.extra_excluded:
            return True, "used by the collection itself"
        for p in self.exclude:
            if p.fullmatch(name):
                return True, "excluded by pattern %r" % p.pattern
        return True, None

    def selected(self, name):
        return self.why_not(name)[1] is None

    def select(self, names):
        """The selected names, sorted."""
        return sorted(n for n in set(names) if self.selected(n))

    def unmatched_includes(self, names):
        """Include patterns (given by the user) that match none of ``names``: a likely typo."""
        if not self.include_given:
            return []
        return [p.pattern for p in self.include if not any(p.fullmatch(n) for n in names)]


# ---------------------------------------------------------------------------------------------
# Topic names on the target
# ---------------------------------------------------------------------------------------------
def target_topic_name(name, prefix="", suffix=""):
    """The target topic of source topic ``name``: ``prefix + name + suffix``."""
    return "%s%s%s" % (prefix or "", name, suffix or "")


# ---------------------------------------------------------------------------------------------
# Cluster identity
# ---------------------------------------------------------------------------------------------
def ensure_distinct(source, target, timeout=None):
    """Raise KafkaOpsError when ``source`` and ``target`` are one cluster (same cluster id).

    Both are :class:`connection.Cluster`; each is described once (the reachability check every
    module makes first). Returns ``(source description, target description)``.
    """
    src = source.describe(timeout)
    tgt = target.describe(timeout)
    if src["cluster_id"] and src["cluster_id"] == tgt["cluster_id"]:
        raise KafkaOpsError(
            "nothing was read or written: the source and the target are the same cluster (cluster id %s): "
            "%s and %s are two addresses of one cluster; give the target cluster's address"
            % (src["cluster_id"], source, target), cluster_id=src["cluster_id"])
    return src, tgt
