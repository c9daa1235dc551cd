"""Step 2 on Alibaba Cloud: kafka_alibaba_instance buys, deploys and finds an instance through the emulator.

The emulator checks the real SDK's signature and the service's instance states (0 to be deployed,
1 deploying, 5 running after ``deploy_seconds``); its running instances hand out the real target
cluster's bootstrap servers as their endpoints.
"""

import pytest

import alibaba_emulator
from ansible_collections.kafkaops.migration.plugins.modules import kafka_alibaba_instance
from tests.utils.modules import FailJson, run_module

pytestmark = pytest.mark.kafka

AK, SECRET = "LTAI-inst-key", "inst-secret-%s" % "y" * 8
CHANGING = ("CreatePostPayInstance", "StartInstance")


@pytest.fixture()
def emulator(clusters):
    emu = alibaba_emulator.AlikafkaEmulator(backing=clusters["target"], access_keys={AK: SECRET}, deploy_seconds=1.5)
    emu.start()
    yield emu
    emu.stop()


def args_of(emu, **extra):
    args = dict(alibaba=dict(region_id="cn-hangzhou", endpoint=emu.endpoint, protocol="http", access_key_id=AK,
                             access_key_secret=SECRET, rate_limit=20.0),
                name="orders-migration",
                order=dict(spec_type="professional", io_max_spec="alikafka.hw.2xlarge", partition_num=1100, disk_size=900),
                deploy=dict(vpc_id="vpc-emu1", vswitch_id="vsw-emu1", zone_id="cn-hangzhou-k"),
                interval=0.2, wait_timeout=30)
    args.update(extra)
    return args


def changing_calls(emu):
    return [(c["action"], c["params"]) for c in emu.calls if c["action"] in CHANGING]


def test_nothing_is_bought_without_allow_purchase_even_in_check_mode(emulator):
    for check in (True, False):
        with pytest.raises(FailJson) as failed:
            run_module(kafka_alibaba_instance, args_of(emulator), check_mode=check)
        result = failed.value.result
        assert "nothing was bought: set allow_purchase=true" in result["msg"]
        assert result["order"]["io_max_spec"] == "alikafka.hw.2xlarge" and result["changed"] is False
        assert SECRET not in str(result)
    assert changing_calls(emulator) == [] and emulator.instances == {}


def test_buy_deploy_wait_then_a_second_run_changes_nothing(clusters, emulator):
    args = args_of(emulator, allow_purchase=True, require={"topics": 50, "partitions": 600})
    planned = run_module(kafka_alibaba_instance, args, check_mode=True, diff=True)
    assert planned["changed"] and planned["purchased"] and planned["started"]
    assert planned["diff"]["after"]["order"]["partition_num"] == 1100
    assert planned["diff"]["after"]["deploy"] == {"vpc_id": "vpc-emu1", "v_switch_id": "vsw-emu1", "zone_id": "cn-hangzhou-k",
                                                  "deploy_module": "vpc", "name": "orders-migration"}
    assert changing_calls(emulator) == [] and emulator.instances == {}

    done = run_module(kafka_alibaba_instance, args)
    assert done["changed"] and done["purchased"] and done["started"]
    assert done["instance"]["status"] == "running"
    assert done["instance"]["endpoints"]["default"] == clusters["target"]["bootstrap_servers"].split(",")
    sent = changing_calls(emulator)
    assert [call[0] for call in sent] == ["CreatePostPayInstance", "StartInstance"]
    buy, start = sent[0][1], sent[1][1]
    assert (buy["SpecType"], buy["IoMaxSpec"], buy["PartitionNum"], buy["DiskSize"], buy["PaidType"]) == \
        ("professional", "alikafka.hw.2xlarge", "1100", "900", "1")
    assert (buy["Tag.1.Key"], buy["Tag.1.Value"]) == ("kafkaops.migration/name", "orders-migration")
    assert start["InstanceId"] == done["instance_id"] and start["VSwitchId"] == "vsw-emu1" and start["Name"] == "orders-migration"
    assert len(emulator.instances) == 1

    emulator.reset_calls()
    again = run_module(kafka_alibaba_instance, args)
    assert again["changed"] is False and again["instance_id"] == done["instance_id"]
    assert not again["purchased"] and not again["started"]
    assert changing_calls(emulator) == [] and len(emulator.instances) == 1


def test_a_bought_but_undeployed_instance_is_found_by_its_tag_and_deployed(emulator):
    inst = emulator.add_instance(service_status=0, tags=[("kafkaops.migration/name", "orders-migration")])
    done = run_module(kafka_alibaba_instance, args_of(emulator, allow_purchase=True))
    assert done["instance_id"] == inst["InstanceId"] and not done["purchased"] and done["started"]
    assert [call[0] for call in changing_calls(emulator)] == ["StartInstance"]
    assert done["instance"]["status"] == "running" and len(emulator.instances) == 1


def test_an_instance_too_small_or_expired_fails_and_says_why(emulator):
    small = emulator.add_instance(name="orders-migration", topic_num_limit=50, partition_num=50)
    with pytest.raises(FailJson) as failed:
        run_module(kafka_alibaba_instance, args_of(emulator, require={"topics": 120}))
    assert "cannot hold the source: topics: 120 wanted, the instance allows 50" in failed.value.result["msg"]
    assert "nothing was changed" in failed.value.result["msg"]

    emulator.instances[small["InstanceId"]]["ServiceStatus"] = 15
    expired = args_of(emulator)
    expired["alibaba"]["instance_id"] = small["InstanceId"]
    with pytest.raises(FailJson) as failed:
        run_module(kafka_alibaba_instance, expired)
    assert "is expired" in failed.value.result["msg"]
    assert changing_calls(emulator) == []


def test_a_purchase_without_deploy_parameters_is_refused_before_buying(emulator):
    args = args_of(emulator, allow_purchase=True)
    del args["deploy"]
    with pytest.raises(FailJson) as failed:
        run_module(kafka_alibaba_instance, args)
    assert "deploy needs vpc_id, vswitch_id, zone_id" in failed.value.result["msg"]
    assert changing_calls(emulator) == [] and emulator.instances == {}
