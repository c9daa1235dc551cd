"""The Alibaba target's rules without the cloud: names, the rename map, the rate limit, the plan."""

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba, alitopics, topics


def test_name_rules_strict_and_dotted():
    assert alibaba.name_problem("orders_v1") is None
    assert "refuses" in alibaba.name_problem("orders.v1")
    assert alibaba.name_problem("orders.v1", "dotted") is None
    assert "shorter than 3" in alibaba.name_problem("ab")
    assert "truncate" in alibaba.name_problem("x" * 65)


def test_default_rule_renames_and_collisions_are_refused():
    names = alibaba.TopicNames(name_rule="strict")
    assert names.target("orders.v1") == "orders_v1"
    problems = names.problems(["orders.v1", "orders_v1", "ok-topic"])
    assert set(problems) == {"orders.v1", "orders_v1"}
    assert "distinct names" in problems["orders.v1"]
    mapped = alibaba.TopicNames({"orders.v1": "orders-v1"}, name_rule="strict")
    assert mapped.problems(["orders.v1", "orders_v1"]) == {}
    refuse = alibaba.TopicNames(rule="refuse", name_rule="strict")
    assert "rename map" in refuse.problems(["orders.v1"])["orders.v1"]


def test_rename_map_validation():
    with pytest.raises(alibaba.AlibabaError, match="both map to"):
        alibaba.validate_rename({"a.b": "ab", "a-b": "ab"})
    with pytest.raises(ValueError):
        alibaba.TopicNames(rule="sometimes")


def test_rate_limit_spaces_calls():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limit = alibaba.RateLimit(2.0, clock=lambda: now[0], sleep=sleep)
    for _attempt in range(5):
        limit.acquire()
    assert slept == [0.5, 0.5, 0.5, 0.5]
    assert limit.waited == pytest.approx(2.0)


def test_plan_cloud_and_local_storage():
    opts = topics.SyncOptions()
    opts.names.name_rule = "strict"
    source = {
        "a.b": {"partitions": 3, "replication_factor": 3, "configs": {"retention.ms": "86400000", "segment.bytes": "1000000"}},
        "compacted": {"partitions": 2, "replication_factor": 3, "configs": {"cleanup.policy": "compact"}},
        "huge": {"partitions": 400, "replication_factor": 3, "configs": {}},
    }
    p = alitopics.plan(source, {}, opts, "cloud", topics)
    assert p.create["a_b"]["partitions"] == 3 and p.create["a_b"]["configs"] == {}
    assert set(p.not_copied["a_b"]) == {"retention.ms", "segment.bytes"}
    assert "local storage" in p.errors["compacted"]
    assert "at most 360" in p.errors["huge"]
    local = alitopics.plan(source, {"compacted": {"partitions": 1, "local": True, "compact": True}}, opts, "local", topics)
    assert local.create["a_b"]["configs"] == {"retention.ms": "86400000"}
    assert local.expand["compacted"] == {"before": 1, "after": 2}


def test_quota_is_checked_before_anything():
    p = topics.Plan()
    p.create = {"t%d" % i: {"partitions": 10} for i in range(3)}
    assert "quota is too small" in alitopics._quota_problem({"TopicNumLimit": 2}, {}, p)
    assert alitopics._quota_problem({"TopicNumLimit": 10}, {}, p) is None


def test_unreachable_endpoint_fails_after_three_attempts_with_the_cause():
    """The real SDK against a closed port: a read is tried three times, then fails naming the cause,
    long before the module's deadline (it used to retry until the deadline, two minutes)."""
    import time
    import pytest
    from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
    pauses = []
    api = alibaba.AlibabaApi({"region_id": "cn-hangzhou", "endpoint": "127.0.0.1:1", "protocol": "http",
                              "access_key_id": "LTAI-test", "access_key_secret": "x", "rate_limit": 100.0},
                             deadline=Deadline(120), sleep=pauses.append)
    t0 = time.monotonic()
    with pytest.raises(alibaba.AlibabaError) as err:
        api.instances()
    assert "GetInstanceList failed: no answer from 127.0.0.1:1 after 3 attempt(s): Connection refused" in err.value.msg
    assert api.calls == 3 and 0.5 in pauses and 1.0 in pauses, (api.calls, pauses)
    assert time.monotonic() - t0 < 10


def test_transport_text_keeps_the_cause():
    raw = ("RetryError({'message': 'HTTPConnectionPool(host=\\'127.0.0.1\\', port=1): Max retries exceeded with url: / "
           "(Caused by NewConnectionError(\"...: Failed to establish a new connection: [Errno 111] Connection refused\"))'})")
    assert alibaba._transport_text(raw) == "Connection refused"
    assert alibaba._transport_text("something else") == "something else"
