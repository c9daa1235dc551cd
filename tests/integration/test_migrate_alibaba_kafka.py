"""playbooks/migrate.yml onto an Alibaba Cloud target, end to end, through the OpenAPI emulator.

Step 2 buys the instance the evaluation recommends (only with kafka_instance_allow_purchase), deploys it,
waits until it runs and hands its endpoints and instance id to the later steps: kafka_target names no
Kafka endpoint and no instance. The source topic's name has a '.', which the instance refuses: topic
sync, group sync and the applications' configs (``app.topic``) all use its target name (``_``). The demo
applications run under supervisord with their ledgers: 0 lost, 0 processed twice.
"""

import re

import pytest

from tests.integration.test_roles_kafka import AppRig, recap_all
from tests.utils.alibaba import alibaba_target, running_emulator

pytestmark = pytest.mark.kafka

AK, SECRET = "LTAI-migrate-key", "migrate-secret-%s" % ("z" * 8)
DEPLOY = {"vpc_id": "vpc-emu9", "vswitch_id": "vsw-emu9", "zone_id": "cn-hangzhou-k"}


def calls(emu, *actions):
    return [c["params"] for c in emu.calls if c["action"] in actions and c.get("success", True) and c.get("http_status") == 200]


def test_migrate_buys_the_instance_and_moves_renamed_topics(clusters, unique, tmp_path):
    from tests.integration.test_demo_apps import wait_for
    rig = AppRig(clusters, tmp_path, unique, "ali.cut", group=unique("alicut-app"), topic_key=True,
                 target_topic=lambda topic: topic.replace(".", "_"))
    assert "." in rig.topic and rig.target_topic != rig.topic
    with running_emulator(clusters, None, AK, SECRET, deploy_seconds=2.0) as emu:
        target = alibaba_target(clusters, emu, None, AK, SECRET, 20.0)
        target.pop("bootstrap_servers")                   # the instance's endpoints, handed on by step 2
        target["alibaba"].pop("instance_id")
        name = unique("ali-inst")
        extra = rig.extra(kafka_target=target, kafka_groups_policy="earliest", kafka_instance_name=name,
                          kafka_instance_deploy=DEPLOY, kafka_instance_interval=0.5, kafka_instance_wait_timeout=120,
                          kafka_evaluate_include=[re.escape(rig.topic)], kafka_evaluate_sample_window=2,
                          kafka_evaluate_edition="professional")

        with rig.supervisor as sup:
            sup.ctl("start", "consumer-old", *rig.producers)
            wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 40, 90)

            # without allow_purchase nothing is bought: the run fails at step 2 and says what it would have ordered
            rc, out = rig.run(extra, "evaluate,instance")
            assert rc != 0, out[-3000:]
            assert "nothing was bought: set allow_purchase=true" in out and "alikafka.hw." in out, out[-3000:]
            assert calls(emu, "CreatePostPayInstance", "StartInstance") == []

            # check mode shows the order and the deploy parameters, buys nothing, and says why the rest waits
            extra["kafka_instance_allow_purchase"] = True
            rc, out = rig.run(extra, "evaluate,instance", check=True)
            assert rc != 0, out[-3000:]
            assert "check mode: instance %s would be bought" % name in out and "vpc-emu9" in out, out[-3000:]
            assert calls(emu, "CreatePostPayInstance", "StartInstance") == [] and emu.instances == {}

            # the whole migration, for real
            rc, out = rig.run(extra)
            assert rc == 0, out[-6000:]
            bought = calls(emu, "CreatePostPayInstance")
            assert len(bought) == 1 and bought[0]["SpecType"] == "professional", bought
            assert bought[0]["IoMaxSpec"].startswith("alikafka.hw.") and bought[0]["Tag.1.Value"] == name
            assert [c["VpcId"] for c in calls(emu, "StartInstance")] == ["vpc-emu9"]
            assert len(emu.instances) == 1, emu.instances
            iid, inst = list(emu.instances.items())[0]
            assert emu._status(inst) == 5
            created = calls(emu, "CreateTopic")
            assert [c["Topic"] for c in created] == [rig.target_topic], created
            assert [c["ConsumerId"] for c in calls(emu, "CreateConsumerGroup")] == [rig.group]
            assert all(c["InstanceId"] == iid for c in created + calls(emu, "CreateConsumerGroup"))
            assert "instance %s (%s): running" % (iid, name) in out
            assert "holds the source: yes" in out
            assert sup.state("consumer-old") == "STOPPED" and sup.state("consumer-new") == "RUNNING"
            for prog in ["new"] + rig.producers:                # the configs name the target's topic and endpoints
                text = (tmp_path / ("%s.properties" % prog)).read_text()
                assert "app.topic=%s\n" % rig.target_topic in text and rig.target_servers in text, text

            # a second run finds the instance, creates and buys nothing
            emu.reset_calls()
            rc, again = rig.run(extra, "evaluate,instance,topics,groups")
            assert rc == 0, again[-4000:]
            assert recap_all(again) == (0, 0), again[-4000:]
            assert calls(emu, "CreatePostPayInstance", "StartInstance", "CreateTopic", "CreateConsumerGroup") == []
            assert len(emu.instances) == 1

            rig.written_to_target(10)
            old, new, acked = rig.finish()

    assert {f[5] for f in acked} == {rig.source_servers, rig.target_servers}
    rig.check_ledgers(old, new, acked)
