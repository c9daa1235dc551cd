"""An Alibaba Cloud target for integration tests: the OpenAPI emulator with one running instance.

tests/harness/alibaba_emulator.py, backed by the real KRaft target cluster; every test file that
needs an ``api: alibaba`` target starts one per module with its own instance id and key, and names
the target with :func:`alibaba_target`.
"""

import contextlib

import alibaba_emulator


@contextlib.contextmanager
def running_emulator(clusters, instance_id, access_key, secret, qps=None, deploy_seconds=3.0):
    """The emulator, started, with ``instance_id`` running (5,000 topics; None: no instance, one is to be
    bought), stopped at the end."""
    emu = alibaba_emulator.AlikafkaEmulator(backing=clusters["target"], access_keys={access_key: secret},
                                            qps=qps or {"default": 50.0}, deploy_seconds=deploy_seconds)
    if instance_id:
        emu.add_instance(instance_id=instance_id, topic_num_limit=5000)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def alibaba_target(clusters, emu, instance, key, secret, rate, **alibaba):
    """The target's connection options with ``api: alibaba`` pointing the SDK at ``emu``: instance ``instance``,
    access key ``key`` / ``secret``, ``rate`` calls per second; ``alibaba`` overrides any of the ``alibaba`` options."""
    opts = dict(region_id="cn-hangzhou", instance_id=instance, endpoint=emu.endpoint, protocol="http",
                access_key_id=key, access_key_secret=secret, rate_limit=rate)
    opts.update(alibaba)
    return dict(clusters.target, api="alibaba", alibaba=opts)
