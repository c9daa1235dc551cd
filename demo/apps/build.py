#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the Java demo applications (demo/apps/java) and give their command lines.

``build()`` compiles the sources with javac against the Kafka client jars into
``<cache>/java-apps/<sha256 of the sources>/`` (skipped when that folder is already complete) and
returns it. The jars: ``KAFKAOPS_JAVA_LIBS`` when set, else the test harness's kafka-4.4.0 libs
(``~/.cache/kafkaops-migration/kafka-4.4.0/libs``, or under ``KAFKAOPS_KAFKA_CACHE``).
``java_command("producer"|"consumer", args)`` is the argv that runs LedgerProducer / LedgerConsumer.

    python demo/apps/build.py        # builds, prints the class folder
    python demo/apps/build.py command producer --config p2.yml --format yaml ...   # prints its command line
"""

import glob
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(HERE, "java")
MAINS = {"producer": "LedgerProducer", "consumer": "LedgerConsumer"}
JVM_OPTS = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
KAFKA_VERSION = "4.4.0"
# Kafka's client logs errors only (authentication failures, ...), on stderr, one line each.
LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %-5level %c{1}: %m%n
rootLogger.level = error
rootLogger.appenderRef.console.ref = console
"""


def _harness():
    """tests/harness/kafka_harness.py when this checkout has it (it knows the cache layout), else None."""
    path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "harness")
    if not os.path.exists(os.path.join(path, "kafka_harness.py")):
        return None
    sys.path.insert(0, path)
    try:
        import kafka_harness  # noqa: PLC0415
        return kafka_harness
    except ImportError:
        return None
    finally:
        sys.path.remove(path)


def cache_dir():
    harness = _harness()
    if harness is not None and hasattr(harness, "cache_dir"):
        return harness.cache_dir()
    return os.environ.get("KAFKAOPS_KAFKA_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "kafkaops-migration"))


def libs_dir():
    if os.environ.get("KAFKAOPS_JAVA_LIBS"):
        return os.environ["KAFKAOPS_JAVA_LIBS"]
    harness = _harness()
    if harness is not None and hasattr(harness, "libs_dir"):
        return harness.libs_dir(getattr(harness, "TARGET_VERSION", KAFKA_VERSION))
    return os.path.join(cache_dir(), "kafka-%s" % KAFKA_VERSION, "libs")


def sources():
    return sorted(glob.glob(os.path.join(SOURCES, "*.java")))


def digest():
    h = hashlib.sha256()
    for path in sources():
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as fh:
            h.update(fh.read())
        h.update(b"\0")
    h.update(LOG4J2.encode())  # written next to the classes
    return h.hexdigest()


def build():
    """Compile (unless already built) and return the class folder."""
    out = os.path.join(cache_dir(), "java-apps", digest())
    if os.path.exists(os.path.join(out, ".complete")):
        return out
    libs = libs_dir()
    if not glob.glob(os.path.join(libs, "kafka-clients-*.jar")):
        raise RuntimeError("no kafka-clients jar in %s (set KAFKAOPS_JAVA_LIBS)" % libs)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".build-", dir=os.path.dirname(out))
    os.chmod(tmp, 0o755)
    try:
        proc = subprocess.run(["javac", "--release", "17", "-encoding", "UTF-8", "-nowarn", "-d", tmp,
                               "-cp", os.path.join(libs, "*")] + sources(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError("javac failed:\n%s" % proc.stdout)
        with open(os.path.join(tmp, "log4j2.properties"), "w") as fh:
            fh.write(LOG4J2)
        with open(os.path.join(tmp, ".complete"), "w") as fh:
            fh.write("\n".join(os.path.basename(s) for s in sources()) + "\n")
        try:
            os.rename(tmp, out)
        except OSError:  # built meanwhile by another process: keep that one
            if not os.path.exists(os.path.join(out, ".complete")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def java_command(kind, args=()):
    """argv running the Java ``kind`` (producer or consumer) with ``args``; builds first if needed."""
    if kind not in MAINS:
        raise ValueError("kind must be one of %s" % ", ".join(MAINS))
    classes = build()
    return ["java"] + JVM_OPTS + ["-cp", "%s:%s" % (classes, os.path.join(libs_dir(), "*")), MAINS[kind]] + list(args)


if __name__ == "__main__":
    # python demo/apps/build.py                       builds, prints the class folder
    # python demo/apps/build.py command producer ...  builds, prints the command line (for a supervisord program)
    if sys.argv[1:2] == ["command"] and len(sys.argv) > 2:
        print(" ".join(shlex.quote(a) for a in java_command(sys.argv[2], sys.argv[3:])))
    else:
        print(build())
