# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the demo applications share: the client configuration file, ledgers, a graceful stop.

The configuration file comes in one of three formats (``--config-format``):

* ``properties``: ``key=value`` lines, ``#`` / ``!`` comments (what the kafka_producers /
  kafka_consumers roles write);
* ``env``: a dotenv file, ``KEY=VALUE`` lines (optional ``export ``, values optionally quoted with
  ``"`` or ``'``); the client keys are the variables prefixed ``KAFKA_``:
  ``KAFKA_BOOTSTRAP_SERVERS`` -> ``bootstrap.servers`` (lower-cased, ``_`` -> ``.``);
* ``yaml``: a mapping ``kafka:`` holding the client keys, as literal dotted keys
  (``bootstrap.servers: x``) or nested (``bootstrap: {servers: x}``).

Only the connection keys (:data:`CLIENT_KEYS`) and the application's own settings (:data:`APP_KEYS`)
are taken from the file; those settings win over the application's built-in defaults. ``app.topic``
(``KAFKA_APP_TOPIC``), when the file has it, names the topic(s) and wins over ``--topic``: it is what
kafka_client_config's ``topic_keys`` rewrites when the target names topics otherwise.
"""

import os
import signal
import time

FORMATS = ("properties", "env", "yaml")

# Keys of the client configuration file the applications take as librdkafka settings (the same names
# as the Java client's for these); the kafka_producers / kafka_consumers roles write this file.
CLIENT_KEYS = ("bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
               "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password", "client.rack")

# The applications' own settings a file may give (they win over the built-in defaults), per kind.
APP_KEYS = {
    "producer": ("acks", "linger.ms", "client.id", "enable.idempotence", "compression.type"),
    "consumer": ("client.id", "isolation.level"),
}

# The topic(s) the application uses, when the file names them (comma-separated); never a client setting.
TOPIC_KEY = "app.topic"


def topics_of(conf, given):
    """The topics: the file's ``app.topic`` (popped from ``conf``) over ``given`` (the command line's)."""
    named = conf.pop(TOPIC_KEY, None)
    topics = [t.strip() for t in named.split(",") if t.strip()] if named else list(given or [])
    if not topics:
        raise SystemExit("no topic: give --topic or app.topic in the configuration file")
    return topics


# The effective settings each kind prints at start, in one ``settings:`` line (the Java apps print the same).
SETTINGS_SHOWN = {
    "producer": ("acks", "client.id", "linger.ms", "enable.idempotence", "compression.type"),
    "consumer": ("client.id", "isolation.level", "group.id", "auto.offset.reset", "enable.auto.commit"),
}


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value).strip()


def _parse_properties(path):
    raw = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(("#", "!")) or "=" not in line:
                continue
            key, value = line.split("=", 1)
            raw[key.strip()] = value.strip()
    return raw


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        if value[0] == '"':
            inner = inner.replace('\\"', '"').replace("\\\\", "\\")
        return inner
    if " #" in value:  # an unquoted value ends at an inline comment
        value = value.split(" #", 1)[0].rstrip()
    return value


def _parse_env(path):
    raw = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[len("export "):].lstrip()
            name, value = line.split("=", 1)
            name = name.strip()
            if name.startswith("KAFKA_"):
                raw[name[len("KAFKA_"):].lower().replace("_", ".")] = _unquote(value)
    return raw


def _flatten(mapping, prefix=""):
    out = {}
    for key, value in mapping.items():
        name = "%s%s" % (prefix, key)
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif value is not None:
            out[name] = _text(value)
    return out


def _parse_yaml(path):
    import yaml  # only this format needs PyYAML

    with open(path) as fh:
        doc = yaml.safe_load(fh) or {}
    section = doc.get("kafka") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise SystemExit("%s: no 'kafka:' mapping" % path)
    return _flatten(section)


def read_config(path, fmt="properties", kind=None):
    """The client configuration file -> dict of its connection keys (and ``kind``'s own settings)."""
    if fmt not in FORMATS:
        raise SystemExit("unknown config format %r (one of %s)" % (fmt, ", ".join(FORMATS)))
    raw = {"properties": _parse_properties, "env": _parse_env, "yaml": _parse_yaml}[fmt](path)
    wanted = CLIENT_KEYS + APP_KEYS.get(kind, ()) + (TOPIC_KEY,)
    conf = {k: v for k, v in raw.items() if k in wanted and v != ""}
    if "bootstrap.servers" not in conf:
        raise SystemExit("%s: no bootstrap.servers" % path)
    return conf


def read_properties(path):
    """``key=value`` lines (``#`` comments) -> dict of the client keys."""
    return read_config(path, "properties")


def settings_line(kind, conf, defaults=None):
    """``settings: acks=all client.id=...``: the effective values of the settings ``kind`` shows."""
    defaults = defaults or {}
    return "settings: " + " ".join(
        "%s=%s" % (k, _text(conf.get(k, defaults.get(k, "-")))) for k in SETTINGS_SHOWN[kind])


def epoch_ms():
    return int(time.time() * 1000)


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
