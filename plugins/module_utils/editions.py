# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalogue of target editions that kafka_spec_facts sizes a migration against.

Plain data, no logic beyond building the list. Every entry is a dict with these keys (``None`` means
"no published limit", which the matcher treats as unlimited):

``name``                   unique id, used by the module's ``edition`` option
``vendor`` / ``product``   who sells it
``edition``                edition family (``standard``, ``professional``, ``professional-high-read``,
                           ``self-managed``); ``edition`` option matches it too
``spec``                   the vendor's traffic specification (Alibaba ``IoMaxSpec``), also matchable
``max_write_mb_s``         business (not replicated) write traffic the spec sustains, MB/s (MiB/s)
``max_read_mb_s``          business read traffic, MB/s
``included_partitions``    partitions included in the price
``max_partitions``         partitions the spec can be extended to (more bought on top of included)
``max_topics``             topics allowed (Alibaba: one topic per partition, 1:1)
``max_groups``             consumer groups allowed (Alibaba: two per partition)
``min_partitions_per_topic``  smallest partition count a topic may have
``max_retention_hours``    longest message retention the edition keeps
``max_message_bytes``      largest message accepted
``disk_counts_replicas``   True when the purchased disk must hold all 3 replicas (usable = disk / 3)
``disk_min_gb`` / ``disk_max_gb``  purchasable disk range, GB (None: not published in our sources)
``replication_factor``     replicas the service keeps (what the disk must hold)
``kafka_versions``         broker versions the service runs, [lowest, highest]
``source``                 where the figures come from, and when they were read

Sources (read 2026-11-28):
  [A] Alibaba Cloud, ApsaraMQ for Kafka "Billing" (document 84737),
      https://help.aliyun.com/document_detail/84737.html and its copies in the Alibaba Cloud SDK
      docstrings (IoMaxSpec "for the valid values see Billing"). Traffic per spec is published as
      "3 x N MB/s" of ENI traffic = N MB/s of business traffic x 3 replicas; High Read specs as
      "R + 2 x W" read and "W + 2 x W" write. Included partitions per spec: 1,000 (2x-12x),
      2,000 (16x-80x), 3,000 (100x-200x), 4,000 (hw2 220x-500x), 5,000 (hw2 600x-1000x).
  [B] Alibaba Cloud, ApsaraMQ for Kafka "Limits",
      https://www.alibabacloud.com/help/en/apsaramq-for-kafka/cloud-message-queue-for-kafka/product-overview/limits
      (last updated 2026-02-27): topics = partitions (1:1), groups = 2 x partitions, minimum
      partitions per topic 2 on cloud storage and 1 on local storage, maximum message 10 MB,
      non-serverless versions 2.2.x to 2.6.x.
  [C] Alibaba Cloud, "How to select an instance edition" and "Instance types"
      https://www.alibabacloud.com/help/en/apsaramq-for-kafka/cloud-message-queue-for-kafka/support/how-to-select-an-instance-edition
      Standard Edition: cloud storage only, retention up to 7 days, disk holds the 3 replicas
      (300 GB bought = 100 GB usable); Professional: local or cloud storage, custom retention, the
      bought disk is usable capacity (replicas on top, free). Read-to-write ratio 1:1 (High Write).
  [D] Maximum partitions per spec as summarised from the GetInstanceList ``IoMaxSpec`` capacity
      policy for v2 instances (Standard / Professional): 4,000 for 2xlarge rising by 200 to 4,800 for
      12xlarge, then 5,000 / 6,000 / 7,000 / 8,000 / 9,000 / 10,000 (16x-80x), 12,000-20,000 (100x-200x),
      24,000-30,000 (hw2 220x-500x), 32,000-40,000 (hw2 600x-1000x).
  Disk ranges per spec were not found in a source we could verify; they stay None (the module then
  reports the disk to buy without checking it against a ceiling).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ALIBABA = "Alibaba Cloud"
ALIKAFKA = "Message Queue for Apache Kafka (ApsaraMQ for Kafka)"
TEN_MB = 10 * 1024 * 1024  # [B] maximum message size 10 MB
ALIKAFKA_VERSIONS = ["2.2", "2.6"]  # [B] non-serverless instances run 2.2.x to 2.6.x

# (spec suffix, business MB/s, included partitions [A], maximum partitions [D])
_HIGH_WRITE = [
    ("hw.2xlarge", 20, 1000, 4000),
    ("hw.3xlarge", 30, 1000, 4200),
    ("hw.6xlarge", 60, 1000, 4400),
    ("hw.9xlarge", 90, 1000, 4600),
    ("hw.12xlarge", 120, 1000, 4800),
    ("hw.16xlarge", 160, 2000, 5000),
    ("hw.20xlarge", 200, 2000, 6000),
    ("hw.25xlarge", 250, 2000, 7000),
    ("hw.30xlarge", 300, 2000, 8000),
    ("hw.60xlarge", 600, 2000, 9000),
    ("hw.80xlarge", 800, 2000, 10000),
    ("hw.100xlarge", 1000, 3000, 12000),
    ("hw.120xlarge", 1200, 3000, 14000),
    ("hw.150xlarge", 1500, 3000, 16000),
    ("hw.180xlarge", 1800, 3000, 18000),
    ("hw.200xlarge", 2000, 3000, 20000),
    ("hw2.220xlarge", 2200, 4000, 24000),
    ("hw2.300xlarge", 3000, 4000, 26000),
    ("hw2.400xlarge", 4000, 4000, 28000),
    ("hw2.500xlarge", 5000, 4000, 30000),
    ("hw2.600xlarge", 6000, 5000, 32000),
    ("hw2.700xlarge", 7000, 5000, 34000),
    ("hw2.800xlarge", 8000, 5000, 36000),
    ("hw2.900xlarge", 9000, 5000, 38000),
    ("hw2.1000xlarge", 10000, 5000, 40000),
]

# Standard Edition (High Write) is sold up to 12xlarge only [A].
_STANDARD_SPECS = ("hw.2xlarge", "hw.3xlarge", "hw.6xlarge", "hw.9xlarge", "hw.12xlarge")

# High Read: (spec suffix, business read MB/s, business write MB/s, included, maximum) [A], [D]
_HIGH_READ = [
    ("hr.2xlarge", 50, 10, 1000, 4000),
    ("hr.3xlarge", 75, 15, 1000, 4200),
    ("hr.6xlarge", 150, 30, 1000, 4400),
    ("hr.9xlarge", 180, 45, 1000, 4600),
    ("hr.12xlarge", 240, 60, 1000, 4800),
    ("hr.16xlarge", 240, 80, 2000, 5000),
    ("hr.20xlarge", 300, 100, 2000, 6000),
    ("hr.25xlarge", 375, 125, 2000, 7000),
    ("hr.30xlarge", 450, 150, 2000, 8000),
    ("hr.60xlarge", 900, 300, 2000, 9000),
    ("hr.80xlarge", 1200, 400, 2000, 10000),
    ("hr.100xlarge", 1500, 500, 3000, 12000),
    ("hr.120xlarge", 1800, 600, 3000, 14000),
    ("hr.150xlarge", 2250, 750, 3000, 16000),
    ("hr.180xlarge", 2700, 900, 3000, 18000),
    ("hr.200xlarge", 3000, 1000, 3000, 20000),
    ("hr2.220xlarge", 3300, 1100, 4000, 24000),
    ("hr2.300xlarge", 4500, 1500, 4000, 26000),
    ("hr2.400xlarge", 6000, 2000, 4000, 28000),
    ("hr2.500xlarge", 7500, 2500, 4000, 30000),
    ("hr2.600xlarge", 9000, 3000, 5000, 32000),
    ("hr2.700xlarge", 10500, 3500, 5000, 34000),
    ("hr2.800xlarge", 12000, 4000, 5000, 36000),
    ("hr2.900xlarge", 13500, 4500, 5000, 38000),
    ("hr2.1000xlarge", 15000, 5000, 5000, 40000),
]


def _alikafka(edition, spec, read, write, included, maximum, standard):
    return {
        "name": "alikafka-%s-%s" % (edition, spec),
        "vendor": ALIBABA,
        "product": ALIKAFKA,
        "edition": edition,
        "spec": "alikafka." + spec,
        "max_write_mb_s": write,
        "max_read_mb_s": read,
        "included_partitions": included,
        "max_partitions": maximum,
        "max_topics": maximum,  # [B] topics = partitions, 1:1
        "max_groups": 2 * maximum,  # [B] groups = 2 x partitions
        # [B] cloud storage topics need 2 partitions; Standard has cloud storage only [C]
        "min_partitions_per_topic": 2 if standard else 1,
        "max_retention_hours": 168 if standard else None,  # [C] Standard keeps 7 days at most
        "max_message_bytes": TEN_MB,
        "disk_counts_replicas": bool(standard),  # [C]
        "disk_min_gb": None,
        "disk_max_gb": None,
        "replication_factor": 3,  # [A] three replicas by default
        "kafka_versions": list(ALIKAFKA_VERSIONS),
        "source": "[A] Billing 84737 / [B] Limits / [C] instance editions / [D] capacity policy, read 2026-11-28",
    }


def _build():
    out = []
    for spec, mb_s, included, maximum in _HIGH_WRITE:
        if spec in _STANDARD_SPECS:
            out.append(_alikafka("standard", spec, mb_s, mb_s, included, maximum, standard=True))
    for spec, mb_s, included, maximum in _HIGH_WRITE:
        out.append(_alikafka("professional", spec, mb_s, mb_s, included, maximum, standard=False))
    for spec, read, write, included, maximum in _HIGH_READ:
        out.append(_alikafka("professional-high-read", spec, read, write, included, maximum, standard=False))
    out.append({
        "name": "self-managed",
        "vendor": None,
        "product": "Apache Kafka, self-managed",
        "edition": "self-managed",
        "spec": None,
        # No catalogue ceiling: the operator sizes the hardware from the recommendation's figures.
        "max_write_mb_s": None,
        "max_read_mb_s": None,
        "included_partitions": None,
        "max_partitions": None,
        "max_topics": None,
        "max_groups": None,
        "min_partitions_per_topic": 1,
        "max_retention_hours": None,
        "max_message_bytes": None,
        "disk_counts_replicas": True,  # a self-managed broker's disks hold every replica
        "disk_min_gb": None,
        "disk_max_gb": None,
        "replication_factor": 3,
        "kafka_versions": None,
        "source": "generic entry: no vendor limits; Apache Kafka defaults (replication factor 3)",
    })
    return out


# Ordered from the cheapest to the most expensive within each edition; the matcher picks the first
# entry that fits, so the order is the preference.
CATALOGUE = _build()

EDITION_KEYS = ("name", "vendor", "product", "edition", "spec", "max_write_mb_s", "max_read_mb_s",
                "included_partitions", "max_partitions", "max_topics", "max_groups",
                "min_partitions_per_topic", "max_retention_hours", "max_message_bytes",
                "disk_counts_replicas", "disk_min_gb", "disk_max_gb", "replication_factor",
                "kafka_versions", "source")
