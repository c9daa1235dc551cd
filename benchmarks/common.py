"""Set-up shared by the benchmarks that run on already-running clusters.

Importing it puts the checkout, the harness and the collection tree on ``sys.path``;
``running_clusters()`` reads the clusters file that ``kafka_harness.py run``/``up`` wrote.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
from tests.utils.collection import collections_root  # noqa: E402

sys.path.insert(0, collections_root())
from tests.conftest import ClusterSet  # noqa: E402


def running_clusters():
    path = os.environ.get("KAFKAOPS_CLUSTERS_FILE", "/tmp/kafkaops-harness/clusters.json")
    with open(path) as fh:
        return ClusterSet(json.load(fh))
