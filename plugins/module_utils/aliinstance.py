# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step 2 on Alibaba Cloud: find, buy (pay-as-you-go), deploy and wait for an ApsaraMQ for Kafka instance.

Plain Python over :class:`alibaba.AlibabaApi`; ``kafka_alibaba_instance`` is its Ansible face.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

TAG = "kafkaops.migration/name"
EXPIRED = 15
WAITING = (0, 1)


def tags(inst):
    """The instance's tags as a dict."""
    found = (inst.get("Tags") or {}).get("TagVO") or []
    return dict((t.get("Key"), t.get("Value")) for t in found)


def find(api, name, instance_id=None):
    """The instance given by id, or the one named ``name`` (by Name or by our tag); None when there is none.
    Two live instances of that name are an error: the caller must say which."""
    if instance_id:
        return api.instance(instance_id)
    found = [i for i in api.instances() if (i.get("Name") == name or tags(i).get(TAG) == name)
             and i.get("ServiceStatus") != EXPIRED]
    if len(found) > 1:
        raise alibaba.AlibabaError("%d instances are named %s: give alibaba.instance_id (%s)"
                                   % (len(found), name, ", ".join(i["InstanceId"] for i in found)))
    return found[0] if found else None


def order_of(order, name):
    """CreatePostPayInstance fields (SDK names) from the ``order`` option; the tag names the instance."""
    o = order or {}
    missing = [k for k in ("io_max_spec", "partition_num", "disk_size") if not o.get(k)]
    if missing:
        raise alibaba.AlibabaError("order needs %s to buy an instance" % ", ".join(missing))
    return {"spec_type": o.get("spec_type") or "normal", "io_max_spec": o["io_max_spec"],
            "partition_num": int(o["partition_num"]), "disk_size": int(o["disk_size"]),
            "disk_type": str(o.get("disk_type") or "1"), "deploy_type": int(o.get("deploy_type") or 5), "paid_type": 1}


def deploy_of(deploy, name):
    """StartInstance fields (SDK names) from the ``deploy`` option."""
    d = deploy or {}
    missing = [k for k in ("vpc_id", "vswitch_id", "zone_id") if not d.get(k)]
    if missing:
        raise alibaba.AlibabaError("deploy needs %s to deploy the instance" % ", ".join(missing))
    return {"vpc_id": d["vpc_id"], "v_switch_id": d["vswitch_id"], "zone_id": d["zone_id"],
            "deploy_module": d.get("deploy_module") or "vpc", "name": name}


def capacity_problems(inst, require):
    """What ``require`` ({topics, partitions}) asks beyond the instance's limits."""
    problems = []
    limits = {"topics": inst.get("TopicNumLimit"), "partitions": inst.get("PartitionNum") or inst.get("TopicNumLimit")}
    for key in ("topics", "partitions"):
        want = (require or {}).get(key)
        if want is not None and limits[key] is not None and int(want) > int(limits[key]):
            problems.append("%s: %s wanted, the instance allows %s" % (key, want, limits[key]))
    return problems


def ensure(api, name, instance_id=None, order=None, deploy=None, allow_purchase=False, require=None,
           wait=True, wait_timeout=3600.0, interval=15.0, check_mode=False, sleep=time.sleep):
    """Make sure the instance exists, is deployed and (``wait``) runs. Returns the result dict
    (``changed``, ``purchased``, ``started``, ``instance_id``, ``instance``, ``order``, ``deploy``, ``diff``, ``done``).
    Raises :class:`alibaba.AlibabaError` with ``result`` (what was done) attached."""
    result = {"changed": False, "purchased": False, "started": False, "done": []}
    try:
        return _ensure(api, result, name, instance_id, order, deploy, allow_purchase, require, wait,
                       wait_timeout, interval, check_mode, sleep)
    except alibaba.AlibabaError as exc:
        exc.result = result
        raise


def _ensure(api, result, name, instance_id, order, deploy, allow_purchase, require, wait, wait_timeout, interval,
            check_mode, sleep):
    done = result["done"]
    inst = find(api, name, instance_id)
    if inst is None:
        fields = order_of(order, name)
        shown = dict(fields, tag={TAG: name})
        result["order"] = shown
        if not allow_purchase:  # in check mode too: it foretells the real run, which fails
            raise alibaba.AlibabaError("no instance named %s in region %s; nothing was bought: set allow_purchase=true to "
                                       "buy %s" % (name, api.region, shown))
        steps = deploy_of(deploy, name)
        result["deploy"] = steps
        result["diff"] = {"before": {}, "after": {"order": shown, "deploy": steps}}
        result.update(changed=True, purchased=True, started=True)
        if check_mode:
            return result
        iid, order_id = api.create_instance(dict(fields, tag=[alibaba.ali_models.CreatePostPayInstanceRequestTag(key=TAG, value=name)]))
        if not iid:
            raise alibaba.AlibabaError("CreatePostPayInstance answered without an instance id (order %s)" % order_id)
        done.append("bought %s (order %s)" % (iid, order_id))
        result.update(instance_id=iid, order_id=order_id)
        inst = api.instance(iid)
    iid = inst["InstanceId"]
    result["instance_id"] = iid
    if inst.get("ServiceStatus") == 0:
        steps = deploy_of(deploy, name)
        result["deploy"] = steps
        result.setdefault("diff", {"before": {"ServiceStatus": 0}, "after": {"ServiceStatus": 1, "deploy": steps}})
        result.update(changed=True, started=True)
        if check_mode:
            result["instance"] = alibaba.public_instance(inst)
            return result
        api.start_instance(iid, steps)
        done.append("started the deployment of %s" % iid)
        inst = api.instance(iid)
    if wait and not check_mode:
        inst = wait_running(api, inst, wait_timeout, interval, sleep)
    if inst.get("ServiceStatus") == alibaba.RUNNING:
        problems = capacity_problems(inst, require)
        if problems:
            raise alibaba.AlibabaError("the instance %s cannot hold the source: %s" % (iid, "; ".join(problems)))
    elif inst.get("ServiceStatus") not in WAITING:
        raise alibaba.AlibabaError("instance %s is %s" % (iid, _status(inst)))
    result["instance"] = alibaba.public_instance(inst)
    return result


def _status(inst):
    s = inst.get("ServiceStatus")
    return alibaba.STATUS_NAMES.get(s, "in state %s" % s)


def wait_running(api, inst, timeout, interval, sleep=time.sleep):
    """Poll the instance until it runs; bounded by ``timeout``; a state other than deploying fails."""
    deadline = Deadline(timeout)
    while inst.get("ServiceStatus") != alibaba.RUNNING:
        if inst.get("ServiceStatus") not in WAITING:
            raise alibaba.AlibabaError("instance %s is %s, not deploying" % (inst.get("InstanceId"), _status(inst)))
        if deadline.expired:
            raise alibaba.AlibabaError("instance %s still %s after %ss" % (inst.get("InstanceId"), _status(inst), timeout))
        sleep(max(min(interval, deadline.remaining()), 0.1))
        inst = api.instance(inst["InstanceId"])
    return inst
