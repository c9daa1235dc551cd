# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point an application's Kafka client settings at a cluster: edit its configuration file in place.

Plain Python (no AnsibleModule here); ``kafka_client_config`` is the thin module around it.

* :func:`client_settings` turns the collection's cluster dict into the client keys of a dialect
  (``librdkafka`` or ``java``).
* One editor per file format (``properties``, ``env``, ``yaml``, ``json``, ``systemd``) finds, sets, adds
  and removes client keys. The line-based editors (every format but json) only rewrite the lines of
  the keys they change: every other line, comment included, stays byte-identical, and so does the
  file's trailing newline state.
* :func:`plan` computes the new text, what changed and the masked before/after values, then reads the
  new text back and checks that it holds exactly the intended values (for YAML also with PyYAML, and
  that nothing else in the document changed). A failed check raises :class:`KafkaOpsError`: nothing
  is to be written.

Nothing here talks to Kafka and nothing needs confluent-kafka.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    SECRET_KEYS,
    KafkaOpsError,
    librdkafka_connection,
    validate_cluster_params,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with Ansible
    HAS_YAML = False

FORMATS = ("properties", "env", "yaml", "json", "systemd")
DIALECTS = ("java", "librdkafka")
MASK = "********"

# Every connection key a dialect may write: the keys ``remove_unused`` may remove.
CONNECTION_KEYS = {
    "librdkafka": (
        "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
        "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password",
        "ssl.endpoint.identification.algorithm",
    ),
    "java": (
        "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.jaas.config",
        "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
        "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.key",
        "ssl.keystore.certificate.chain", "ssl.key.password", "ssl.endpoint.identification.algorithm",
    ),
}

# Other names librdkafka accepts for a key: found (and edited where they are) like the key itself.
ALIASES = {
    "librdkafka": {"bootstrap.servers": ("metadata.broker.list",), "sasl.mechanism": ("sasl.mechanisms",)},
    "java": {},
}

SECRET_CLIENT_KEYS = frozenset(SECRET_KEYS) | frozenset((
    "sasl.password", "ssl.key.password", "ssl.truststore.password", "ssl.keystore.password", "ssl.keystore.key",
))

JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}

_JAAS_SECRET_RE = re.compile(
    r"""(\b[\w.-]*(?:password|secret)[\w.-]*\s*=\s*)("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s;]+)""", re.I)


# -- values, secrets, masking -----------------------------------------------------------------------
def is_secret_key(key):
    """Whether a client key's value is a secret (the whole value is masked)."""
    low = str(key).lower()
    return key in SECRET_CLIENT_KEYS or "password" in low or "secret" in low


def holds_secret(key):
    """Whether a file holding this key holds a secret (for the file mode)."""
    return is_secret_key(key) or str(key).endswith("jaas.config")


def mask(key, value):
    """The value fit for results and diffs: secrets replaced by ``********``."""
    if value is None:
        return None
    if str(key).endswith("jaas.config"):
        return _JAAS_SECRET_RE.sub(lambda m: m.group(1) + '"' + MASK + '"', to_text(value))
    if is_secret_key(key):
        return MASK
    return value


def to_text(value):
    """A file value as the string a client sees (lists comma-joined, booleans in lower case)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def jaas_quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(mechanism, username, password):
    return "%s required username=%s password=%s;" % (
        JAAS_LOGIN_MODULES[mechanism], jaas_quote(username), jaas_quote(password))


# -- cluster dict -> client keys --------------------------------------------------------------------
def _java_store(conf, kind, store):
    """``ssl.<kind>.type``, ``.location`` and ``.password`` of a Java truststore or keystore dict."""
    if not store.get("location"):
        raise KafkaOpsError("%s needs a location" % kind)
    conf["ssl.%s.type" % kind] = store.get("type") or "JKS"
    conf["ssl.%s.location" % kind] = store["location"]
    if store.get("password") is not None:
        conf["ssl.%s.password" % kind] = store["password"]


def client_settings(cluster, dialect, truststore=None, keystore=None, settings=None, name="cluster"):
    """``(desired, dropped, warnings)``: the client keys to write (ordered dict), the keys ``settings``
    asks to remove (null values) and warnings about ignored options."""
    if dialect not in DIALECTS:
        raise KafkaOpsError("dialect must be one of %s, got %r" % (", ".join(DIALECTS), dialect))
    warnings = []
    if dialect == "librdkafka":
        if truststore or keystore:
            raise KafkaOpsError("truststore and keystore are for dialect java; librdkafka reads PEM files: use "
                                "%s.ssl_ca_location, ssl_certificate_location and ssl_key_location" % name)
        conf = librdkafka_connection(cluster, name)   # the keys the modules' own clients connect with
    else:
        servers = validate_cluster_params(cluster, name)
        proto = cluster.get("security_protocol") or "PLAINTEXT"
        sasl = proto.startswith("SASL_")
        tls = proto in ("SSL", "SASL_SSL")
        conf = {"bootstrap.servers": ",".join(servers), "security.protocol": proto}
        if sasl:
            mech = cluster["sasl_mechanism"]
            conf["sasl.mechanism"] = mech
            conf["sasl.jaas.config"] = jaas_config(mech, cluster["sasl_username"], cluster["sasl_password"])
        if tls:
            if cluster.get("ssl_certificate_location") or cluster.get("ssl_key_location"):
                raise KafkaOpsError(
                    "dialect java cannot use %s.ssl_certificate_location / ssl_key_location: a Java PEM keystore "
                    "needs the certificate and the private key in one file; give the keystore option "
                    "(location, password, type, key_password) instead" % name)
            if cluster.get("ssl_ca_location") and truststore:
                raise KafkaOpsError("give either %s.ssl_ca_location or truststore, not both" % name)
            if cluster.get("ssl_ca_location"):
                conf["ssl.truststore.type"] = "PEM"
                conf["ssl.truststore.location"] = cluster["ssl_ca_location"]
            elif truststore:
                _java_store(conf, "truststore", truststore)
            if keystore:
                _java_store(conf, "keystore", keystore)
                key_password = keystore.get("key_password")
                if key_password is None:
                    key_password = cluster.get("ssl_key_password")
                if key_password is not None:
                    conf["ssl.key.password"] = key_password
            elif cluster.get("ssl_key_password"):
                warnings.append("%s.ssl_key_password is ignored with dialect java and no keystore" % name)
            if cluster.get("ssl_check_hostname", True) is False:
                conf["ssl.endpoint.identification.algorithm"] = ""
        elif truststore or keystore:
            warnings.append("truststore and keystore are ignored: security_protocol %s uses no TLS" % proto)
    dropped = []
    for key, value in (settings or {}).items():
        key = str(key)
        if not key:
            raise KafkaOpsError("settings: empty key")
        if value is None:
            conf.pop(key, None)
            dropped.append(key)
        else:
            conf[key] = value
    return conf, dropped, warnings


# -- key names and paths ----------------------------------------------------------------------------
def parse_path(path):
    """``a.b[c.d].e`` -> ``["a", "b", "c.d", "e"]`` (a segment in square brackets is literal)."""
    segs, cur, i = [], "", 0
    path = str(path)
    while i < len(path):
        c = path[i]
        if c == "[":
            end = path.find("]", i)
            if end < 0:
                raise KafkaOpsError("key path %r: unclosed [" % path)
            if cur:
                segs.append(cur)
                cur = ""
            segs.append(path[i + 1:end])
            i = end + 1
            if i < len(path) and path[i] == ".":
                i += 1
            continue
        if c == ".":
            if cur:
                segs.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        segs.append(cur)
    return segs


def path_parts(segs):
    """Segments -> dot parts: nested and dotted forms of a key are the same parts."""
    return [p for seg in segs for p in str(seg).split(".")]


def key_parts(key):
    """The parts of one mapping key (``security.protocol``, ``[security.protocol]``, ``security``)."""
    try:
        return path_parts(parse_path(key))
    except KafkaOpsError:
        return str(key).split(".")


def show_path(segs):
    out = ""
    for i, seg in enumerate(str(s) for s in segs):
        if seg.startswith("[") and seg.endswith("]"):
            out += seg
        elif "." in seg or not seg:
            out += "[%s]" % seg
        else:
            out += ("." if i else "") + seg
    return out


def env_name(key, prefix):
    return (prefix if prefix is not None else "KAFKA_") + re.sub(r"[^A-Za-z0-9_]", "_", key).upper()


def default_prefix(fmt, dialect):
    if fmt in ("env", "systemd"):
        return "KAFKA_"
    if fmt in ("yaml", "json"):
        return "spring.kafka.properties" if dialect == "java" else "kafka"
    return ""


def key_names(fmt, dialect, key, keys=None, prefix=None):
    """The names (or, for yaml/json, paths as segment lists) a client key may have in the file.

    The first is where it is added; all are found and edited where they are.
    """
    if keys and key in keys:
        given = keys[key]
        names = given if isinstance(given, (list, tuple)) else [given]
        names = [str(n) for n in names if n not in (None, "")]
        if not names:
            raise KafkaOpsError("keys.%s is empty" % key)
        return [parse_path(n) for n in names] if fmt in ("yaml", "json") else names
    cands = [key] + list(ALIASES.get(dialect, {}).get(key, ()))
    pre = prefix if prefix is not None else default_prefix(fmt, dialect)
    if fmt in ("env", "systemd"):
        return [env_name(k, pre) for k in cands]
    if fmt in ("yaml", "json"):
        base = parse_path(pre) if pre else []
        out = [base + [k] for k in cands]
        if prefix is None and dialect == "java" and key == "bootstrap.servers":
            out.insert(0, ["spring", "kafka", "bootstrap-servers"])
        return out
    return [pre + k for k in cands]


# -- line-based editors -----------------------------------------------------------------------------
def _eol(line):
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n") or line.endswith("\r"):
        return line[-1]
    return ""


def _strip_eol(line):
    return line[:len(line) - len(_eol(line))]


class Entry:
    """One key found in a file: its lines ``[start, end)``, file name or path, value."""

    def __init__(self, start, end, name, value, **extra):
        self.start = start
        self.end = end
        self.name = name
        self.value = value
        self.extra = extra


class LineEditor:
    """Base of the line-based editors: lines kept with their own line ends, re-parsed after each edit."""

    fmt = None

    def __init__(self, text, names):
        self.original = text
        self.lines = text.splitlines(True)
        self.eol = (_eol(self.lines[0]) if self.lines else "") or "\n"
        self.trailing_newline = (not text) or bool(_eol(text))
        self.names = names
        self.parse()

    # subclasses: parse() sets self.entries; render(name, value, entry=None) -> list of lines
    def parse(self):
        raise NotImplementedError

    def text(self):
        out = "".join(self.lines)
        if out and self.trailing_newline and not _eol(out):
            out += self.eol
        elif out and not self.trailing_newline:
            out = _strip_eol(out)
        return out

    def matches(self, entry, name):
        return entry.name == name

    def find(self, key):
        names = self.names[key]
        return [e for e in self.entries if any(self.matches(e, n) for n in names)]

    def values(self, key):
        return [to_text(e.value) for e in self.find(key)]

    def shown(self, key):
        """(name, value) of each entry of the key, in file order (for diffs)."""
        return [(e, self.display_name(e), e.value) for e in self.find(key)]

    def display_name(self, entry):
        return entry.name

    def _replace(self, start, end, new_lines):
        self.lines[start:end] = new_lines
        self.parse()

    def _insert(self, index, new_lines):
        if index >= len(self.lines) and self.lines and not _eol(self.lines[-1]):
            self.lines[-1] += self.eol
        self.lines[index:index] = new_lines
        self.parse()

    def set(self, key, value):
        """Give every entry of the key the value (edited where it is), or add the key."""
        want = to_text(value)
        found = self.find(key)
        if not found:
            self.add(key, value)
            return
        for attempt in range(len(found) + 1):
            todo = [e for e in self.find(key) if to_text(e.value) != want]
            if not todo:
                return
            self.update(todo[0], value)
        raise KafkaOpsError("%s: could not write %s" % (self.fmt, key))

    def update(self, entry, value):
        self._replace(entry.start, entry.end, self.render(entry.name, value, entry))

    def remove(self, key):
        for attempt in range(len(self.entries) + 1):
            found = self.find(key)
            if not found:
                return
            self.delete(found[0])
        raise KafkaOpsError("%s: could not remove %s" % (self.fmt, key))

    def delete(self, entry):
        self._replace(entry.start, entry.end, [])

    def insert_at(self, key):
        """Where a new key goes: after the last entry of a managed key, else at the end."""
        last = -1
        for k in self.names:
            for e in self.find(k):
                last = max(last, e.end)
        return last if last >= 0 else len(self.lines)

    def add(self, key, value):
        self._insert(self.insert_at(key), self.render(self.names[key][0], value))

    def diff_line(self, name, value):
        return "".join(self.render(name, value)).rstrip("\r\n")


# properties ---------------------------------------------------------------------------------------
_PROP_WS = " \t\f"
_PROP_ESC = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _prop_unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "u" and re.match(r"[0-9a-fA-F]{4}$", s[i + 2:i + 6]):
                out.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_PROP_ESC.get(n, n))
            i += 2
            continue
        if c != "\\":
            out.append(c)
        i += 1
    text = "".join(out)
    # surrogate pairs written as two \\u escapes
    return text.encode("utf-16", "surrogatepass").decode("utf-16") if re.search("[\ud800-\udfff]", text) else text


def prop_escape(value, key=False):
    out = []
    for i, c in enumerate(value):
        if c == "\\":
            out.append("\\\\")
        elif c == " " and (key or i == 0):
            out.append("\\ ")
        elif c in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[c])
        elif key and c in "=:#!":
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) > 0x7e:
            for unit in range(0, len(c.encode("utf-16-be")), 2):
                code = c.encode("utf-16-be")[unit:unit + 2]
                out.append("\\u%04x" % int.from_bytes(code, "big"))
        else:
            out.append(c)
    return "".join(out)


class PropertiesEditor(LineEditor):
    fmt = "properties"

    def parse(self):
        self.entries = []
        i, n = 0, len(self.lines)
        while i < n:
            first = _strip_eol(self.lines[i])
            body = first.lstrip(_PROP_WS)
            if not body or body[0] in "#!":
                i += 1
                continue
            start, logical = i, body
            lead = len(first) - len(body)
            while True:
                m = re.search(r"(\\+)$", logical)
                if not (m and len(m.group(1)) % 2 == 1 and i + 1 < n):
                    if m and len(m.group(1)) % 2 == 1:
                        logical = logical[:-1]  # a continuation at the end of the file
                    break
                i += 1
                logical = logical[:-1] + _strip_eol(self.lines[i]).lstrip(_PROP_WS)
            i += 1
            # key: up to the first unescaped separator
            j = 0
            while j < len(logical) and logical[j] not in "=:" + _PROP_WS:
                j += 2 if logical[j] == "\\" else 1
            j = min(j, len(logical))
            raw_key = logical[:j]
            k = j
            while k < len(logical) and logical[k] in _PROP_WS:
                k += 1
            if k < len(logical) and logical[k] in "=:":
                k += 1
                while k < len(logical) and logical[k] in _PROP_WS:
                    k += 1
            # the text before the value, when it is all on the first line, is kept on an update
            head = first[:lead + k] if i - start == 1 or k < len(body) else None
            self.entries.append(Entry(start, i, _prop_unescape(raw_key), _prop_unescape(logical[k:]), head=head))

    def render(self, name, value, entry=None):
        eol = (_eol(self.lines[entry.end - 1]) if entry else "") or self.eol
        head = entry.extra.get("head") if entry else None
        if not head or not re.search(r"[=:\s]$", head):
            head = prop_escape(name, key=True) + "="
        return [head + prop_escape(to_text(value)) + eol]


# env ----------------------------------------------------------------------------------------------
_ENV_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<export>export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=")
_ENV_PLAIN = re.compile(r"[A-Za-z0-9_./:,@%+=^-]+")


def env_quote(value):
    if "\n" in value or "\r" in value or "\0" in value:
        raise KafkaOpsError("env: a value with a line break or NUL cannot be written")
    if value == "" or _ENV_PLAIN.fullmatch(value):
        return value
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def _env_value(text, pos):
    """Read a shell word from text[pos:]; return (value, end) or (None, pos) when a quote is unclosed."""
    out, i = [], pos
    while i < len(text):
        c = text[i]
        if c in " \t\r\n":
            break
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                return None, i
            out.append(text[i + 1:end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= len(text):
                    return None, i
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`\n':
                    if text[i + 1] != "\n":
                        out.append(text[i + 1])
                    i += 2
                    continue
                out.append(c)
                i += 1
        elif c == "\\" and i + 1 < len(text):
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), i


class EnvEditor(LineEditor):
    fmt = "env"

    def parse(self):
        self.entries = []
        i, n = 0, len(self.lines)
        while i < n:
            m = _ENV_LINE.match(self.lines[i])
            if not m:
                i += 1
                continue
            start, text = i, self.lines[i]
            value, end = _env_value(text, m.end())
            while value is None and i + 1 < n:  # a quoted value over several lines
                i += 1
                text += self.lines[i]
                value, end = _env_value(text, m.end())
            if value is None:
                raise KafkaOpsError("env: line %d: unclosed quote" % (start + 1))
            i += 1
            tail = _strip_eol(text[end:])
            self.entries.append(Entry(start, i, m.group("name"), value, head=text[:m.end()],
                                      tail=tail if (not tail.strip() or tail.strip().startswith("#")) else ""))

    def render(self, name, value, entry=None):
        if entry is not None:
            return [entry.extra["head"] + env_quote(to_text(value)) + entry.extra["tail"]
                    + ((_eol(self.lines[entry.end - 1]) or self.eol))]
        return ["%s=%s%s" % (name, env_quote(to_text(value)), self.eol)]


# systemd drop-in ----------------------------------------------------------------------------------
_SD_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_SD_ENV = re.compile(r"^\s*Environment\s*=\s*")
_C_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "s": " "}


def systemd_words(text):
    """Split an ``Environment=`` value like systemd (quotes, C escapes, ``%%``)."""
    words, cur, quote, i, started = [], [], None, 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
                cur.append(chr(int(text[i + 2:i + 4], 16)))
                i += 4
            else:
                cur.append(_C_ESC.get(n, n))
                i += 2
            started = True
            continue
        if quote:
            if c == quote:
                quote = None
            else:
                cur.append(c)
        elif c in "\"'":
            quote, started = c, True
        elif c in " \t":
            if started:
                words.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(c)
            started = True
        i += 1
    if quote:
        raise KafkaOpsError("systemd: unclosed quote in Environment=%s" % text.split("=", 1)[0])
    if started:
        words.append("".join(cur))
    return [w.replace("%%", "%") for w in words]


def systemd_quote(name, value):
    if re.search(r"[\r\n\0]", value):
        raise KafkaOpsError("systemd: a value with a line break or NUL cannot be written")
    word = "%s=%s" % (name, value)
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


class SystemdEditor(LineEditor):
    fmt = "systemd"

    def parse(self):
        self.entries = []
        self.service = None  # (header line, end of section content)
        section, i, n = None, 0, len(self.lines)
        while i < n:
            line = _strip_eol(self.lines[i])
            m = _SD_SECTION.match(line)
            if m:
                section = m.group(1).strip()
                if section == "Service" and self.service is None:
                    self.service = [i, i + 1]
                i += 1
                continue
            start = i
            logical = line
            while logical.endswith("\\") and not logical.lstrip().startswith(("#", ";")) and i + 1 < n:
                i += 1
                logical = logical[:-1] + " " + _strip_eol(self.lines[i])
            i += 1
            if section == "Service" and logical.strip() and not logical.lstrip().startswith(("#", ";")):
                if self.service and self.service[0] < start:
                    self.service[1] = i
            env = _SD_ENV.match(logical)
            if section != "Service" or not env:
                continue
            words = []
            for w in systemd_words(logical[env.end():]):
                name, sep, value = w.partition("=")
                if sep and name:
                    words.append((name, value))
            for idx, (name, value) in enumerate(words):
                self.entries.append(Entry(start, i, name, value, words=words, index=idx))

    def render(self, name, value, entry=None):
        return ["Environment=%s%s" % (systemd_quote(name, to_text(value)), self.eol)]

    def _line(self, words, entry):
        if not words:
            return []
        eol = _eol(self.lines[entry.end - 1]) or self.eol
        return ["Environment=%s%s" % (" ".join(systemd_quote(n, to_text(v)) for n, v in words), eol)]

    def update(self, entry, value):
        words = list(entry.extra["words"])
        words[entry.extra["index"]] = (entry.name, value)
        if len(words) == 1:
            lines = self.render(entry.name, value)
            lines[-1] = _strip_eol(lines[-1]) + (_eol(self.lines[entry.end - 1]) or self.eol)
            self._replace(entry.start, entry.end, lines)
        else:
            self._replace(entry.start, entry.end, self._line(words, entry))

    def delete(self, entry):
        words = list(entry.extra["words"])
        del words[entry.extra["index"]]
        self._replace(entry.start, entry.end, self._line(words, entry))

    def insert_at(self, key):
        at = LineEditor.insert_at(self, key)
        if self.find_any():
            return at
        return self.service[1] if self.service else len(self.lines)

    def find_any(self):
        return any(self.find(k) for k in self.names)

    def add(self, key, value):
        if self.service is None:
            header = ["[Service]" + self.eol]
            if self.lines and _strip_eol(self.lines[-1]).strip():
                header.insert(0, self.eol)
            self._insert(len(self.lines), header)
        LineEditor.add(self, key, value)

    def diff_line(self, name, value):
        return "Environment=%s" % systemd_quote(name, to_text(value))


# -- YAML (line-based, block style) ---------------------------------------------------------------
_YAML_KEY = re.compile(
    r"""^(?P<indent> *)(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|(?![-?:,\[\]{}#&*!|>'"%@`\s])[^#]*?|[-?:](?=\S)[^#]*?)"""
    r"""[ \t]*:(?=[ \t]|$)(?P<rest>.*)$""")
_YAML_SEQ = re.compile(r"^ *-(?:[ \t]|$)")


class YamlNode:
    def __init__(self, indent, key_raw=None, key=None, line=-1, parent=None):
        self.indent = indent
        self.key_raw = key_raw
        self.key = key
        self.line = line
        self.last = line
        self.parent = parent
        self.children = []
        self.kind = "map"
        self.child_indent = None
        self.rest = ""
        self.path = (parent.path + [key]) if parent is not None else []


def _yaml_split_value(rest):
    """``rest`` after the colon -> (leading space, value text, trailing comment part) or None."""
    lead = len(rest) - len(rest.lstrip(" \t"))
    body = rest[lead:]
    if not body:
        return rest, "", ""
    if body[0] in "'\"":
        q, i = body[0], 1
        while i < len(body):
            if q == "'" and body[i] == "'":
                if body[i + 1:i + 2] == "'":
                    i += 2
                    continue
                break
            if q == '"' and body[i] == "\\":
                i += 2
                continue
            if body[i] == q:
                break
            i += 1
        if i >= len(body):
            return None
        value, after = body[:i + 1], body[i + 1:]
        if after.strip() and not after.strip().startswith("#"):
            return None
        return rest[:lead], value, after
    m = re.search(r"[ \t]#", body)
    value = body[:m.start()] if m else body
    stripped = value.rstrip(" \t")
    return rest[:lead], stripped, body[len(stripped):]


def yaml_scalar(value):
    """A YAML scalar for a value: plain when that reads back the same, else single (or double) quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    value = str(value)
    if value and re.fullmatch(r"[A-Za-z0-9_./:,@=+$()-][A-Za-z0-9_./:,@=+$() -]*", value) and not value.endswith(" "):
        try:
            if yaml.safe_load("k: " + value) == {"k": value}:
                return value
        except yaml.YAMLError:
            pass
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        return json.dumps(value)
    return "'" + value.replace("'", "''") + "'"


def yaml_key(key):
    return yaml_scalar(key) if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", key) else key


class YamlEditor(LineEditor):
    fmt = "yaml"

    def parse(self):
        if not HAS_YAML:
            raise KafkaOpsError("the yaml format needs PyYAML")
        text = "".join(self.lines)
        try:
            self.doc = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            # not str(exc): it quotes the offending line, which may hold a secret
            mark = getattr(exc, "problem_mark", None)
            where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark is not None else ""
            raise KafkaOpsError("yaml: the file is not parsable: %s%s"
                                % (getattr(exc, "problem", None) or type(exc).__name__, where))
        if self.doc is not None and not isinstance(self.doc, dict):
            raise KafkaOpsError("yaml: the document is not a mapping")
        root = self.root = YamlNode(-1)
        root.last = -1
        self.header_end = 0
        stack = [root]
        seen_content = False
        for i, raw in enumerate(self.lines):
            line = _strip_eol(raw)
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if line.startswith("---") or line.startswith("..."):
                if seen_content or line.startswith("..."):
                    raise KafkaOpsError("yaml: line %d: only one YAML document per file is supported" % (i + 1))
                if line[3:].strip() and not line[3:].strip().startswith("#"):
                    raise KafkaOpsError("yaml: line %d: content after --- is not supported" % (i + 1))
                self.header_end = i + 1
                continue
            if line.startswith("%"):
                self.header_end = i + 1
                continue
            seen_content = True
            indent = len(line) - len(line.lstrip(" "))
            if line[indent:indent + 1] == "\t":
                raise KafkaOpsError("yaml: line %d: tab indentation" % (i + 1))
            seq = bool(_YAML_SEQ.match(line))
            while len(stack) > 1:
                top = stack[-1]
                if indent > top.indent or (indent == top.indent and seq and top.kind in ("empty", "seq")):
                    break
                stack.pop()
            top = stack[-1]
            if top is not root and top.kind not in ("empty", "map"):
                if top.kind == "scalar" and top.last == top.line:
                    top.kind = "multiline"
                for node in stack[1:]:
                    node.last = i
                continue
            if seq:
                if top is root:
                    raise KafkaOpsError("yaml: the document is not a mapping")
                top.kind = "seq"
                for node in stack[1:]:
                    node.last = i
                continue
            m = _YAML_KEY.match(line)
            if not m or not m.group("key").strip():
                raise KafkaOpsError("yaml: line %d: not a block mapping entry the editor can handle "
                                    "(flow style, complex key or unsupported syntax)" % (i + 1))
            if top.child_indent is None:
                top.child_indent = indent
                if top.kind == "empty":
                    top.kind = "map"
            elif indent != top.child_indent:
                raise KafkaOpsError("yaml: line %d: inconsistent indentation" % (i + 1))
            key_raw = m.group("key").rstrip()
            try:
                key = yaml.safe_load(key_raw) if key_raw[0] in "'\"" else key_raw
            except yaml.YAMLError:
                key = key_raw
            node = YamlNode(indent, key_raw, key, i, top)
            node.rest = m.group("rest")
            body = node.rest.strip()
            if not body or body.startswith("#"):
                node.kind = "empty"
            elif body[0] in "|>":
                node.kind = "block"
            elif body[0] in "[{":
                node.kind = "flow"
            elif body[0] in "&*!":
                node.kind = "special"
            else:
                node.kind = "scalar"
            top.children.append(node)
            stack.append(node)
            for n in stack[1:]:
                n.last = i
        self.root.last = max([c.last for c in self.root.children] or [self.header_end - 1])
        self.entries = []
        self._collect(self.root)

    def _collect(self, node):
        for c in node.children:
            self.entries.append(c)
            self._collect(c)

    # lookup ---------------------------------------------------------------------------------------
    def _match(self, node, parts, chain, out, blocked):
        for c in node.children:
            kp = key_parts(c.key)
            n = len(kp)
            if kp != parts[:n]:
                continue
            if n == len(parts):
                out.append((c, chain + [(c, n)]))
            elif c.kind == "map":
                self._match(c, parts[n:], chain + [(c, n)], out, blocked)
            elif c.kind != "empty":
                blocked.append(c)

    def locate(self, segs):
        out, blocked = [], []
        self._match(self.root, path_parts(segs), [], out, blocked)
        return out, blocked

    def find(self, key):
        found = []
        for segs in self.names[key]:
            for node, dummy in self.locate(segs)[0]:
                if node not in found:
                    found.append(node)
        return sorted(found, key=lambda n: n.line)

    def value_of(self, node):
        cur = self.doc
        for k in node.path:
            if not isinstance(cur, dict) or k not in cur:
                return None
            cur = cur[k]
        return cur

    def values(self, key):
        return [to_text(self.value_of(n)) for n in self.find(key)]

    def shown(self, key):
        return [(n, show_path([str(k) for k in n.path]), self.value_of(n)) for n in self.find(key)]

    # edits ----------------------------------------------------------------------------------------
    def _eol_at(self, idx):
        return (_eol(self.lines[idx]) if 0 <= idx < len(self.lines) else "") or self.eol

    def set(self, key, value):
        want = to_text(value)
        if not self.find(key):
            self.add(key, value)
            return
        for attempt in range(20):
            todo = [n for n in self.find(key) if to_text(self.value_of(n)) != want]
            if not todo:
                return
            self.update(todo[0], value)
        raise KafkaOpsError("yaml: could not write %s" % key)

    def update(self, entry, value):
        node = entry
        current = self.value_of(node)
        if isinstance(current, dict):
            raise KafkaOpsError("yaml: %s holds a mapping, not a value" % show_path([str(k) for k in node.path]))
        as_list = isinstance(current, list) and isinstance(value, str)
        items = value.split(",") if as_list else None
        eol = self._eol_at(node.last)
        pad = " " * node.indent
        if as_list and node.kind == "seq":
            first = node.line + 1
            while first <= node.last and not _YAML_SEQ.match(self.lines[first]):
                first += 1
            item_line = self.lines[first]
            item_pad = item_line[:len(item_line) - len(item_line.lstrip(" "))]
            lines = [self.lines[node.line]] + [item_pad + "- " + yaml_scalar(v) + self._eol_at(first) for v in items]
            lines[-1] = _strip_eol(lines[-1]) + eol
            self._replace(node.line, node.last + 1, lines)
            return
        new = ("[" + ", ".join(yaml_scalar(v) for v in items) + "]") if as_list else yaml_scalar(value)
        line = _strip_eol(self.lines[node.line])
        split = _yaml_split_value(node.rest) if node.kind == "scalar" and node.last == node.line else None
        if split is not None and split[1]:
            head = line[:len(line) - len(node.rest)]
            self._replace(node.line, node.line + 1, [head + split[0] + new + split[2] + eol])
            return
        if node.kind == "flow" and node.last == node.line and as_list:
            m = re.match(r"^([ \t]*)(\[[^\[\]{}#]*\])(.*)$", node.rest)
            if m and (not m.group(3).strip() or m.group(3).strip().startswith("#")):
                head = line[:len(line) - len(node.rest)]
                self._replace(node.line, node.line + 1, [head + m.group(1) + new + m.group(3) + eol])
                return
        if node.kind == "special":
            raise KafkaOpsError("yaml: %s uses an anchor, alias or tag the editor cannot change"
                                % show_path([str(k) for k in node.path]))
        comment = ""
        if node.kind in ("scalar", "empty", "multiline"):
            c = re.search(r"[ \t]#.*$", node.rest) if node.kind == "empty" else None
            comment = c.group(0) if c else ""
        self._replace(node.line, node.last + 1, [pad + node.key_raw + ": " + new + comment + eol])

    def remove(self, key):
        for attempt in range(50):
            todo = []
            for segs in self.names[key]:
                key_n = len(path_parts(segs[-1:]))
                todo.extend((node, chain, key_n) for node, chain in self.locate(segs)[0])
            if not todo:
                return
            node, chain, key_n = todo[0]
            # also remove the parents emptied that are part of the key itself (``security: {protocol: x}``)
            target, consumed = node, chain[-1][1]
            for parent, n in reversed(chain[:-1]):
                if consumed >= key_n or len(parent.children) != 1:
                    break
                target = parent
                consumed += n
            self._replace(target.line, target.last + 1, [])
        raise KafkaOpsError("yaml: could not remove %s" % key)

    def add(self, key, value):
        segs = self.names[key][0]
        container = segs[:-1]
        parts = path_parts(container)
        # the deepest existing block mapping along the container path
        best, best_n = self.root, 0

        def walk(node, consumed):
            nonlocal best, best_n
            for c in node.children:
                kp = key_parts(c.key)
                if kp == parts[consumed:consumed + len(kp)] and len(kp) <= len(parts) - consumed:
                    if c.kind not in ("map", "empty"):
                        raise KafkaOpsError("yaml: %s is not a block mapping (flow style, anchor, alias or a value): "
                                            "cannot add %s" % (show_path([str(k) for k in c.path]), key))
                    if consumed + len(kp) > best_n:
                        best, best_n = c, consumed + len(kp)
                    walk(c, consumed + len(kp))
        walk(self.root, 0)
        missing, count = [], 0
        for seg in container:
            seg_parts = str(seg).split(".")
            if count + len(seg_parts) <= best_n:
                count += len(seg_parts)
                continue
            if count < best_n:
                seg = ".".join(seg_parts[best_n - count:])
            count += len(seg_parts)
            missing.append(seg)
        if best is self.root:
            indent = self.root.child_indent or 0
            at = self.root.last + 1 if self.root.children else len(self.lines)
        else:
            indent = best.child_indent if best.child_indent is not None else best.indent + 2
            at = best.last + 1
        step = 2
        lines = []
        for j, seg in enumerate(missing):
            lines.append(" " * (indent + step * j) + yaml_key(seg) + ":" + self.eol)
        lines.append(" " * (indent + step * len(missing)) + yaml_key(str(segs[-1])) + ": " + yaml_scalar(value)
                     + self.eol)
        self._insert(at, lines)

    def diff_line(self, name, value):
        return "%s: %s" % (name, yaml_scalar(to_text(value)) if value is not None else "")


def _prune(doc):
    """Drop None values and empty mappings, recursively (both sides of the YAML check alike)."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            v = _prune(v)
            if v is None or v == {}:
                continue
            out[k] = v
        return out
    return doc


def _strip_paths(doc, paths):
    doc = copy.deepcopy(doc) if doc is not None else {}
    for path in paths:
        cur = doc
        for k in path[:-1]:
            cur = cur.get(k) if isinstance(cur, dict) else None
        if isinstance(cur, dict):
            cur.pop(path[-1], None)
    return _prune(doc)


# -- JSON -------------------------------------------------------------------------------------------
class JsonEditor:
    fmt = "json"

    def __init__(self, text, names):
        self.original = text
        self.names = names
        self.dirty = False
        self.trailing_newline = (not text) or text.endswith("\n")
        m = re.search(r"\n([ \t]+)\S", text)
        self.indent = (m.group(1) if "\t" in m.group(1) else len(m.group(1))) if m else 2
        try:
            self.doc = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise KafkaOpsError("json: the file is not parsable: %s" % exc)
        if not isinstance(self.doc, dict):
            raise KafkaOpsError("json: the document is not an object")

    def _match(self, obj, parts, chain, out):
        for k in list(obj):
            kp = key_parts(k)
            n = len(kp)
            if kp != parts[:n]:
                continue
            if n == len(parts):
                out.append((obj, k, chain + [(obj, k, n)]))
            elif isinstance(obj[k], dict):
                self._match(obj[k], parts[n:], chain + [(obj, k, n)], out)

    def locate(self, segs):
        out = []
        self._match(self.doc, path_parts(segs), [], out)
        return out

    def find(self, key):
        found = []
        for segs in self.names[key]:
            for obj, k, chain in self.locate(segs):
                if not any(o is obj and kk == k for o, kk, dummy in found):
                    found.append((obj, k, chain))
        return found

    def values(self, key):
        return [to_text(obj[k]) for obj, k, dummy in self.find(key)]

    def shown(self, key):
        return [(None, show_path([str(c[1]) for c in chain]), obj[k]) for obj, k, chain in self.find(key)]

    def set(self, key, value):
        found = self.find(key)
        if not found:
            return self.add(key, value)
        for obj, k, dummy in found:
            if to_text(obj[k]) != to_text(value):
                obj[k] = value.split(",") if isinstance(obj[k], list) and isinstance(value, str) else value
                self.dirty = True
        return None

    def add(self, key, value):
        segs = self.names[key][0]
        cur = self.doc
        parts = path_parts(segs[:-1])
        i = 0
        while i < len(parts):
            nxt = None
            for k in cur:
                kp = key_parts(k)
                if kp == parts[i:i + len(kp)] and isinstance(cur[k], dict):
                    nxt = (k, len(kp))
                    break
            if nxt is None:
                if parts[i] in cur and not isinstance(cur[parts[i]], dict):
                    raise KafkaOpsError("json: %s is not an object: cannot add %s" % (parts[i], key))
                cur = cur.setdefault(parts[i], {})
                i += 1
            else:
                cur = cur[nxt[0]]
                i += nxt[1]
        cur[str(segs[-1])] = value
        self.dirty = True

    def remove(self, key):
        for segs in self.names[key]:
            key_n = len(path_parts(segs[-1:]))
            for obj, k, chain in self.locate(segs):
                if k not in obj:
                    continue
                del obj[k]
                self.dirty = True
                consumed = chain[-1][2]
                for pobj, pk, n in reversed(chain[:-1]):
                    if consumed >= key_n or pobj[pk]:
                        break
                    del pobj[pk]
                    consumed += n

    def text(self):
        if not self.dirty:
            return self.original
        out = json.dumps(self.doc, indent=self.indent, ensure_ascii=False)
        return out + "\n" if self.trailing_newline else out

    def diff_line(self, name, value):
        return "%s: %s" % (name, json.dumps(value, ensure_ascii=False))


EDITORS = {"properties": PropertiesEditor, "env": EnvEditor, "yaml": YamlEditor, "json": JsonEditor,
           "systemd": SystemdEditor}


# -- the plan ---------------------------------------------------------------------------------------
def managed_lines(editor, keys):
    """The managed entries of a file as text lines, in file order, secrets masked."""
    rows = []
    for key in keys:
        for entry, name, value in editor.shown(key):
            pos = entry.start if isinstance(entry, Entry) else (entry.line if entry is not None else 0)
            rows.append((pos, len(rows), editor.diff_line(name, mask(key, value))))
    return "".join(row[2] + "\n" for row in sorted(rows))


def _last(values):
    return values[-1] if values else None


def rename_topic_value(value, names):
    """``[(name, target name)]`` of ``value`` (a topic name or a comma-separated list, empty items dropped);
    raises on an ambiguous name.

    A name that is already a target name of the rename map (a file switched before) is kept, so the edit is
    idempotent; a name that is both a source and a target of the map cannot be told apart and fails.
    """
    targets = set(names.rename.values())
    out = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        if name in targets and name in names.rename:
            raise KafkaOpsError("topic %r is both a source and a target name of the rename map: cannot tell whether this "
                                "file was switched already; give the map without chains" % name)
        out.append((name, name if name in targets else names.target(name)))
    return out


def plan(text, fmt, dialect, cluster, truststore=None, keystore=None, settings=None, keys=None, prefix=None,
         require=("bootstrap.servers",), remove_unused=True, new_file=False, topic_keys=None, rename=None,
         rename_rule="underscore"):
    """Compute the edit of one file. ``text`` is its content ('' for a new file).

    Returns a dict: ``text`` (the new content), ``changed``, ``before``/``after`` (masked values of the
    managed keys), ``bootstrap_before``/``bootstrap_after``, ``added``/``updated``/``removed``,
    ``secret`` (the new content holds a secret), ``diff_before``/``diff_after``, ``warnings``, and
    ``topic_names`` (``{name in the file: name written}`` of the ``topic_keys``' topics, through the rename map
    and the target's name rule: :meth:`alibaba.TopicNames.of`).
    Raises :class:`KafkaOpsError` on bad input or when the result does not read back as intended.
    """
    if fmt not in EDITORS:
        raise KafkaOpsError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    settings = dict(settings or {})
    desired, dropped, warnings = client_settings(cluster, dialect, truststore, keystore, settings)
    managed = list(CONNECTION_KEYS[dialect]) + [str(k) for k in settings if str(k) not in CONNECTION_KEYS[dialect]]
    for k in keys or {}:
        if k not in managed:
            warnings.append("keys.%s is not a key this module manages (ignored)" % k)
    require = [str(k) for k in (require or [])]
    topic_keys = [str(k) for k in (topic_keys or [])]
    clash = [k for k in topic_keys if k in managed]
    if clash:
        raise KafkaOpsError("topic_keys: %s are Kafka client keys, not keys naming topics" % ", ".join(clash))
    # the one naming rule of every step; the name rule from the cluster's options (no SDK on app hosts)
    topic_rule = alibaba.TopicNames.of(cluster, rename, rename_rule)
    names = {}
    for k in managed + [r for r in require if r not in managed] + topic_keys:
        names[k] = key_names(fmt, dialect, k, keys, prefix)

    editor = EDITORS[fmt](text, names)
    original = EDITORS[fmt](text, names) if fmt == "yaml" else None
    before_values = dict((k, editor.values(k)) for k in managed)
    if not new_file:
        missing = [k for k in require if not (before_values.get(k) if k in before_values else editor.values(k))]
        if missing:
            raise KafkaOpsError("the keys to change are not there: %s not found in the file (format %s, looked for %s)"
                                % (", ".join(missing), fmt,
                                   "; ".join(_show_names(fmt, names[k]) for k in missing)))
    shown = managed + topic_keys
    diff_before = managed_lines(editor, shown)
    added, updated, removed = [], [], []
    topic_names, topic_before, topic_desired = {}, {}, {}
    for key in topic_keys:
        cur = editor.values(key)
        if not cur:
            if new_file:
                continue
            raise KafkaOpsError("topic_keys: %s not found in the file (format %s, looked for %s); nothing written"
                                % (key, fmt, _show_names(fmt, names[key])))
        topic_before[key] = _last(cur)
        pairs = rename_topic_value(_last(cur), topic_rule)
        topic_names.update(pairs)
        value = topic_desired[key] = ",".join(new for dummy, new in pairs)
        if any(v != value for v in cur):
            editor.set(key, value)
            updated.append(key)
    for key, value in desired.items():
        cur = before_values.get(key)
        if not cur:
            editor.set(key, value)
            added.append(key)
        elif any(v != to_text(value) for v in cur):
            editor.set(key, value)
            updated.append(key)
    for key in managed:
        if key not in desired and before_values.get(key) is not None and editor.find(key) \
                and (remove_unused or key in dropped):
            editor.remove(key)
            removed.append(key)
    new_text = editor.text()

    # read the result back: it must hold exactly what was intended
    check = EDITORS[fmt](new_text, names)
    for key, value in list(desired.items()) + list(topic_desired.items()):
        got = check.values(key)
        if not got or any(v != to_text(value) for v in got):
            raise KafkaOpsError("%s: the edited file does not read back %s as intended; nothing written "
                                "(the editor cannot handle this file's layout)" % (fmt, key))
    for key in removed:
        if check.values(key):
            raise KafkaOpsError("%s: %s is still in the edited file; nothing written" % (fmt, key))
    if fmt == "yaml":
        old_paths = [n.path for k in managed for n in original.find(k)]
        new_paths = [n.path for k in managed for n in check.find(k)]
        old_rest = _strip_paths(original.doc, old_paths)
        new_rest = _strip_paths(check.doc, new_paths)
        if old_rest != new_rest:
            raise KafkaOpsError("yaml: the edit would change more than the managed keys (flow style, anchors or a "
                                "layout the line editor cannot handle); nothing written")

    after_values = dict((k, check.values(k)) for k in managed)
    before = dict((k, mask(k, _last(v))) for k, v in before_values.items() if v)
    after = dict((k, mask(k, _last(v))) for k, v in after_values.items() if v)
    before.update(topic_before)
    after.update(topic_desired)
    secret = any(holds_secret(k) and _last(v) not in (None, "") for k, v in after_values.items() if v)
    return dict(
        text=new_text,
        changed=new_text != text,
        before=before,
        after=after,
        bootstrap_before=_last(before_values.get("bootstrap.servers") or []),
        bootstrap_after=_last(after_values.get("bootstrap.servers") or []),
        added=added,
        updated=updated,
        removed=removed,
        secret=secret,
        diff_before=diff_before,
        diff_after=managed_lines(check, shown),
        warnings=warnings,
        topic_names=topic_names,
    )


def _show_names(fmt, names):
    if fmt in ("yaml", "json"):
        return " or ".join(show_path(n) for n in names)
    return " or ".join(names)
