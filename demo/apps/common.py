# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the demo applications share: the client properties file, ledgers, a graceful stop."""

import os
import signal

# Keys of the client properties file the applications take as librdkafka settings (the same names
# as the Java client's for these); the kafka_producers / kafka_consumers roles write this file.
CLIENT_KEYS = ("bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
               "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password", "client.rack")


def read_properties(path):
    """``key=value`` lines (``#`` comments) -> dict of the client keys."""
    conf = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(("#", "!")) or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if key.strip() in CLIENT_KEYS:
                conf[key.strip()] = value.strip()
    if "bootstrap.servers" not in conf:
        raise SystemExit("%s: no bootstrap.servers" % path)
    return conf


def read_ledger(path):
    """The ledger's lines split into fields (missing file: empty)."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [line.split() for line in fh if line.strip()]


class Stop:
    """Set by SIGTERM / SIGINT: the application finishes what it holds and exits cleanly."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_args):
        self.requested = True
