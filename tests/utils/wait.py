"""Bounded waits for the broker state a test depends on (never a fixed sleep, never a race).

Kafka makes most writes visible asynchronously: a new topic reaches each broker's metadata a moment
after CreateTopics returns, a transaction's markers (and so the last stable offset) are written after
``commit_transaction`` returns, a consumer joins its group some time after ``subscribe``. A test that
acts on such a state first waits for it here, with a deadline, and fails naming what it waited for and
the last value it saw.

``wait_until(what, probe, predicate, timeout)`` is the one loop; the Kafka helpers below are probes
built on it.
"""

import time

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType


class WaitTimeout(AssertionError):
    """The awaited state did not hold within the deadline."""


def wait_until(what, probe, predicate=bool, timeout=30.0, interval=0.05, max_interval=0.5,
               retry_on=(KafkaException,)):
    """Call ``probe()`` until ``predicate(value)`` holds; return that value.

    Polls with a growing pause (``interval`` doubling up to ``max_interval``) on the monotonic clock;
    after ``timeout`` seconds it raises :class:`WaitTimeout` naming ``what`` and the last value seen.
    Exceptions listed in ``retry_on`` (a broker not ready yet) count as a value seen, and are retried.
    """
    deadline = time.monotonic() + timeout
    pause = interval
    last = "nothing (no probe finished)"
    while True:
        try:
            value = probe()
            if predicate(value):
                return value
            last = value
        except retry_on as exc:
            last = "%s: %s" % (type(exc).__name__, exc)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout("timed out after %.1fs waiting for %s; last seen: %r" % (timeout, what, last))
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, max_interval)


def _result(futures, timeout=10):
    return {key: fut.result(timeout) for key, fut in futures.items()}


# -- offsets ---------------------------------------------------------------------------------------
def list_offsets(admin, tps, spec=None, isolation=IsolationLevel.READ_UNCOMMITTED, timeout=10):
    """``{(topic, partition): offset}`` from the partition leaders, in one ListOffsets call."""
    spec = spec or OffsetSpec.latest()
    req = {TopicPartition(t, p): spec for t, p in tps}
    res = _result(admin.list_offsets(req, isolation_level=isolation, request_timeout=timeout), timeout + 5)
    return {(tp.topic, tp.partition): info.offset for tp, info in res.items()}


def wait_stable_offsets(admin, expected, timeout=30.0):
    """Wait until the last stable offset (ListOffsets latest, READ_COMMITTED) of every partition in
    ``expected`` (``{(topic, partition): offset}``) is exactly the expected one: every transaction up
    to there is committed or aborted and its marker written, so a read_committed reader sees it all."""
    return wait_until(
        "last stable offsets %s" % _short(expected),
        lambda: list_offsets(admin, expected, isolation=IsolationLevel.READ_COMMITTED),
        lambda seen: seen == expected, timeout)


def wait_transactions_settled(admin, topic, partitions, timeout=30.0):
    """Wait until no transaction is open on the partitions of ``topic`` (a count, or the partition
    numbers): the last stable offset equals the high watermark on each (a just-committed transaction's
    markers are written after ``commit_transaction`` returns). Returns ``{partition: offset}``."""
    partitions = range(partitions) if isinstance(partitions, int) else sorted(partitions)
    tps = [(topic, p) for p in partitions]

    def probe():
        stable = list_offsets(admin, tps, isolation=IsolationLevel.READ_COMMITTED)
        high = list_offsets(admin, tps)
        return {p: (stable[(topic, p)], high[(topic, p)]) for p in partitions}

    seen = wait_until("no open transaction on %s (stable offset == high watermark on partitions %s)" % (topic, list(partitions)),
                      probe, lambda s: all(a == b for a, b in s.values()), timeout)
    return {p: v[0] for p, v in seen.items()}


def wait_committed(admin, group, expected, timeout=30.0):
    """Wait until ``group``'s committed offsets include ``expected`` (``{(topic, partition): offset}``)."""
    def probe():
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in expected])
        res = list(admin.list_consumer_group_offsets([req], request_timeout=10).values())[0].result(15)
        return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}

    return wait_until("committed offsets of group %s %s" % (group, _short(expected)), probe,
                      lambda seen: all(seen.get(k) == v for k, v in expected.items()), timeout)


# -- metadata --------------------------------------------------------------------------------------
def wait_topics_on_every_broker(conf, names, partitions=None, timeout=30.0):
    """Wait until every broker of the cluster (each asked alone, bootstrapped from it) lists each topic
    of ``names`` with its leaders and, if given, ``partitions`` partitions (an int, or ``{name: n}``).

    CreateTopics / CreatePartitions return when the controller has done it; the other brokers learn it
    a moment later, and a client bootstrapped from one of them would not see the topic yet."""
    names = [names] if isinstance(names, str) else list(names)
    want = partitions if isinstance(partitions, dict) else {n: partitions for n in names}
    for server in conf["bootstrap.servers"].split(","):
        admin = AdminClient(dict(conf, **{"bootstrap.servers": server}))

        def probe(admin=admin):
            md = admin.list_topics(timeout=10)
            out = {}
            for n in names:
                t = md.topics.get(n)
                if t is None or t.error is not None:
                    out[n] = None if t is None else str(t.error)
                else:
                    out[n] = [pm.leader for pm in t.partitions.values()]
            return out

        def ready(seen):
            return all(isinstance(leaders, list) and leaders and all(x >= 0 for x in leaders)
                       and (want.get(n) is None or len(leaders) == want[n])
                       for n, leaders in seen.items())

        wait_until("topics %s on broker %s" % (_short(names), server), probe, ready, timeout)


def wait_topics_gone(conf, names, timeout=30.0):
    """Wait until no broker of the cluster lists any topic of ``names`` (after DeleteTopics)."""
    names = [names] if isinstance(names, str) else list(names)
    for server in conf["bootstrap.servers"].split(","):
        admin = AdminClient(dict(conf, **{"bootstrap.servers": server}))
        wait_until("topics %s gone from broker %s" % (_short(names), server),
                   lambda admin=admin: sorted(n for n in names if n in admin.list_topics(timeout=10).topics),
                   lambda left: not left, timeout)


def topic_overrides(admin, topic):
    """``{key: value}`` of the topic's own config overrides (DescribeConfigs, source DYNAMIC_TOPIC_CONFIG)."""
    res = _result(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=10), 15)
    entries = list(res.values())[0]
    return {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def wait_topic_overrides(conf, topic, expected, exact=True, timeout=30.0):
    """Wait until each broker (asked through a client bootstrapped from it alone) shows ``topic``'s
    config overrides equal to ``expected`` (``exact``) or including it; return the last ones seen.

    A KRaft broker answers DescribeConfigs from its own metadata image, which learns a new topic or an
    altered config a moment after the controller acknowledged it."""
    seen = None
    for server in conf["bootstrap.servers"].split(","):
        admin = AdminClient(dict(conf, **{"bootstrap.servers": server}))
        seen = wait_until(
            "config overrides of %s %s %s via %s" % (topic, "==" if exact else "include", _short(expected), server),
            lambda admin=admin: topic_overrides(admin, topic),
            lambda got: got == expected if exact else all(got.get(k) == v for k, v in expected.items()), timeout)
    return seen


# -- groups ----------------------------------------------------------------------------------------
def group_state(admin, group):
    """``(state name, number of members)`` of ``group`` (DescribeConsumerGroups)."""
    desc = list(admin.describe_consumer_groups([group], request_timeout=10).values())[0].result(15)
    return desc.state.name, len(desc.members)


def wait_group_members(admin, group, members=1, timeout=60.0):
    """Wait until ``group`` is Stable with at least ``members`` members (the rebalance is over)."""
    return wait_until("group %s Stable with >= %d member(s)" % (group, members), lambda: group_state(admin, group),
                      lambda s: s[0] == ConsumerGroupState.STABLE.name and s[1] >= members, timeout)


def wait_group_empty(admin, group, timeout=60.0):
    """Wait until ``group`` has no member (after its consumers closed)."""
    return wait_until("group %s without members" % group, lambda: group_state(admin, group),
                      lambda s: s[1] == 0, timeout)


def wait_assignment(consumer, what="a partition assignment", timeout=60.0, poll=0.2):
    """Poll ``consumer`` (so it can join) until it has an assignment; return the assignment.

    Records it fetches meanwhile are returned to no one: use it only on consumers that need not read."""
    def probe():
        consumer.poll(poll)
        return consumer.assignment()

    return wait_until(what, probe, timeout=timeout, interval=0.0, max_interval=0.0)


def _short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
