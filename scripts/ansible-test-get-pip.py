"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a host we cannot reach.

ansible-test runs ``~/.ansible/test/cache/get_pip_<version>.py`` inside each fresh sanity virtualenv
with pip-install arguments (``pip==X``, ``--no-setuptools`` ...). This does the same with what the
interpreter already has: ``ensurepip`` puts a pip in, which then installs the requested packages from
PyPI. scripts/lint copies it into place; nothing is downloaded but PyPI packages.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
