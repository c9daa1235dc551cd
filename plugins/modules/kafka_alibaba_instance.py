#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_alibaba_instance
short_description: Buy, deploy and find an Alibaba Cloud ApsaraMQ for Kafka instance (step 2)
version_added: 0.2.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Step 2 of the migration procedure on Alibaba Cloud Message Queue for Apache Kafka, through its OpenAPI
    (GetInstanceList, CreatePostPayInstance, StartInstance).
  - Finds the instance by O(alibaba.instance_id), or by O(name) (the instance's name, or the tag
    C(kafkaops.migration/name) it was bought with, so that a run that stopped between buying and deploying finds
    its instance again and never buys a second one).
  - When there is none, buys a pay-as-you-go instance with O(order) - only with O(allow_purchase=true); without
    it the task fails (in check mode too, as the real run would) and says what it would have ordered. Check mode
    shows the order and the deploy parameters (and C(--diff) shows them as the change) and calls nothing that
    changes anything.
  - An instance waiting to be deployed is deployed (StartInstance) with O(deploy). With O(wait=true) the task
    waits until the instance runs and returns its endpoints, for the next steps' O(alibaba.instance_id) and
    C(bootstrap_servers).
  - O(require) checks that the instance can hold the source (topics, partitions); a smaller one fails the task.
  - A second run finds the running instance and changes nothing.
options:
  alibaba:
    description:
      - The region, credentials and OpenAPI endpoint; the same dict as a target's C(alibaba) option
        (see M(kafkaops.migration.kafka_topic_sync)). O(alibaba.instance_id) selects an existing instance.
    type: dict
    required: true
    suboptions:
      region_id:
        description: Region of the instance.
        type: str
        required: true
      instance_id:
        description: An existing instance to use.
        type: str
      endpoint:
        description: OpenAPI endpoint; default C(alikafka.<region_id>.aliyuncs.com).
        type: str
      protocol:
        description: Protocol of the OpenAPI endpoint.
        type: str
        choices: [https, http]
        default: https
      access_key_id:
        description: AccessKey ID; without it the SDK's default credential chain is used.
        type: str
      access_key_secret:
        description: AccessKey secret. Never logged or returned.
        type: str
      security_token:
        description: STS token. Never logged or returned.
        type: str
      rate_limit:
        description: Calls per second to the OpenAPI.
        type: float
        default: 1.0
      name_rule:
        description: Not used by this module (accepted so that one dict serves every module).
        type: str
        choices: [strict, dotted]
        default: strict
      topic_storage:
        description: Not used by this module (accepted so that one dict serves every module).
        type: str
        choices: [cloud, local]
        default: cloud
      request_timeout:
        description: Seconds one OpenAPI call may take.
        type: float
        default: 10.0
  name:
    description: Name of the instance (given at deploy time) and the value of its C(kafkaops.migration/name) tag.
    type: str
    required: true
  allow_purchase:
    description: Buy an instance when none is found. Buying costs money; it never happens without this.
    type: bool
    default: false
  order:
    description:
      - The purchase, as CreatePostPayInstance parameters. Take them from the sizing recommendation of
        M(kafkaops.migration.kafka_spec_facts) (C(spec_type) from its edition family, C(io_max_spec) from its spec,
        C(partition_num) and C(disk_size) from its figures).
    type: dict
    suboptions:
      spec_type:
        description: C(normal) (Standard), C(professional), C(professionalForHighRead).
        type: str
        choices: [normal, professional, professionalForHighRead]
        default: normal
      io_max_spec:
        description: Traffic specification, for example C(alikafka.hw.2xlarge).
        type: str
      partition_num:
        description: Partitions to buy.
        type: int
      disk_size:
        description: Disk in GB.
        type: int
      disk_type:
        description: C(0) ultra disk, C(1) SSD.
        type: str
        choices: ['0', '1']
        default: '1'
      deploy_type:
        description: C(4) Internet and VPC, C(5) VPC only.
        type: int
        choices: [4, 5]
        default: 5
  deploy:
    description: StartInstance parameters for an instance waiting to be deployed.
    type: dict
    suboptions:
      vpc_id:
        description: VPC of the instance.
        type: str
      vswitch_id:
        description: vSwitch of the instance.
        type: str
      zone_id:
        description: Zone of the instance.
        type: str
      deploy_module:
        description: Deployment mode, C(vpc) or C(eip).
        type: str
        default: vpc
  require:
    description:
      - What the instance must hold, with keys C(topics) and C(partitions), for example C(topics=120) and C(partitions=600);
        a smaller instance fails.
    type: dict
    default: {}
  wait:
    description: Wait until the instance runs.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the deployment (a real one takes tens of minutes).
    type: float
    default: 3600
  interval:
    description: Seconds between two reads of the instance's state while waiting.
    type: float
    default: 15
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the region's instances and returns the order and the deploy parameters a real run would use; buys and deploys nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Needs the Python library C(alibabacloud-alikafka20190916) on the host that runs the module.
"""

EXAMPLES = r"""
- name: Buy and deploy the target from the sizing recommendation
  kafkaops.migration.kafka_alibaba_instance:
    alibaba: "{{ kafka_target.alibaba }}"
    name: orders-migration
    allow_purchase: true
    order:
      spec_type: professional
      io_max_spec: "{{ spec.recommendation.spec }}"
      partition_num: "{{ spec.recommendation.figures.partitions.value }}"
      disk_size: "{{ spec.recommendation.figures.disk_gb.value }}"
    deploy: {vpc_id: vpc-bp1..., vswitch_id: vsw-bp1..., zone_id: cn-hangzhou-k}
    require: {topics: "{{ spec.topics | length }}"}
  register: instance
"""

RETURN = r"""
instance_id:
  description: The instance.
  returned: success
  type: str
  sample: alikafka_post-cn-7pp2bz47q002
instance:
  description: The instance's state, spec, quotas and endpoints (C(default), C(sasl), C(ssl) as lists of host:port).
  returned: success
  type: dict
  sample: {InstanceId: alikafka_post-cn-7pp2bz47q002, ServiceStatus: 5, status: running, endpoints: {default: ["10.0.0.1:9092"]}}
purchased:
  description: Whether this run bought the instance (in check mode, whether it would).
  returned: always
  type: bool
started:
  description: Whether this run deployed the instance (in check mode, whether it would).
  returned: always
  type: bool
order:
  description: The CreatePostPayInstance parameters used or, in check mode or without O(allow_purchase), that would be.
  returned: when an instance is or would be bought
  type: dict
  sample: {spec_type: normal, io_max_spec: alikafka.hw.2xlarge, partition_num: 1000, disk_size: 500, tag: {kafkaops.migration/name: orders-migration}}
order_id:
  description: The order CreatePostPayInstance placed.
  returned: when this run bought the instance
  type: str
deploy:
  description: The StartInstance parameters used or, in check mode, that would be.
  returned: when the instance is or would be deployed
  type: dict
  sample: {vpc_id: vpc-bp1..., v_switch_id: vsw-bp1..., zone_id: cn-hangzhou-k, deploy_module: vpc, name: orders-migration}
done:
  description: What this run changed, in order (also on failure, so that a stopped run says what it left behind).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba, aliinstance, args
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def main():
    spec = dict(
        alibaba=dict(type="dict", required=True, options=alibaba.ALIBABA_OPTION_SPEC),
        name=dict(type="str", required=True),
        allow_purchase=dict(type="bool", default=False),
        order=dict(type="dict", options=dict(
            spec_type=dict(type="str", default="normal", choices=["normal", "professional", "professionalForHighRead"]),
            io_max_spec=dict(type="str"), partition_num=dict(type="int"), disk_size=dict(type="int"),
            disk_type=dict(type="str", default="1", choices=["0", "1"]), deploy_type=dict(type="int", default=5, choices=[4, 5]))),
        deploy=dict(type="dict", options=dict(vpc_id=dict(type="str"), vswitch_id=dict(type="str"), zone_id=dict(type="str"),
                                              deploy_module=dict(type="str", default="vpc"))),
        require=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=3600.0),
        interval=dict(type="float", default=15.0),
    )
    module = args.KafkaModule(argument_spec=spec, supports_check_mode=True)
    if not alibaba.HAS_ALIKAFKA_SDK:
        module.fail_json(msg=missing_required_lib("alibabacloud-alikafka20190916"), exception=alibaba.ALIKAFKA_IMPORT_ERROR)
    p = module.params
    if p["wait_timeout"] <= 0 or p["interval"] <= 0:
        module.fail_json(msg="wait_timeout and interval must be positive (seconds), got %s and %s" % (p["wait_timeout"], p["interval"]))
    try:
        api = alibaba.AlibabaApi(p["alibaba"], name="alibaba", deadline=Deadline(p["wait_timeout"] + 120))
        result = aliinstance.ensure(api, p["name"], instance_id=p["alibaba"].get("instance_id"), order=p["order"],
                                    deploy=p["deploy"], allow_purchase=p["allow_purchase"], require=p["require"],
                                    wait=p["wait"], wait_timeout=p["wait_timeout"], interval=p["interval"],
                                    check_mode=module.check_mode)
    except alibaba.AlibabaError as exc:
        result = dict(getattr(exc, "result", None) or {"changed": False, "done": []})
        done = result.get("done") or []
        module.fail_json(msg="%s; %s" % (exc.msg, "done before: %s" % ", ".join(done) if done else "nothing was changed"), **result)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
