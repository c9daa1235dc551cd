# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deadlines and polling on the monotonic clock, shared by every module that waits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

# Ansible argument spec of the wait options, documented once in doc_fragments/wait.py.
WAIT_OPTION_SPEC = dict(
    timeout=dict(type="float", default=600.0),
    interval=dict(type="float", default=5.0),
    stable_for=dict(type="float", default=0.0),
)


class Deadline:
    """A point in time on the monotonic clock; ``Deadline(None)`` never expires."""

    def __init__(self, seconds, clock=time.monotonic):
        self.clock = clock
        self.start = clock()
        self.seconds = seconds
        self.end = None if seconds is None else self.start + float(seconds)

    def remaining(self):
        """Seconds left (may be negative), or None when unbounded."""
        return None if self.end is None else self.end - self.clock()

    @property
    def expired(self):
        return self.end is not None and self.clock() >= self.end

    def elapsed(self):
        return self.clock() - self.start


def poll(interval, deadline, sleep=time.sleep, backoff=1.0, max_interval=None):
    """Yield the elapsed time once now and then every ``interval`` until ``deadline`` expires.

    The caller breaks out when its condition holds; falling off the end means the deadline passed.
    The last sleep is cut short so the final check happens right at the deadline. With ``backoff``
    above 1 the pause grows by that factor after each round, up to ``max_interval`` (the retry policy
    of the admin layer: quick first retries, then calmer ones).
    """
    pause_next = float(interval)
    while True:
        yield deadline.elapsed()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            return
        pause = pause_next if remaining is None else min(pause_next, remaining)
        sleep(max(pause, 0))
        if backoff and backoff > 1:
            pause_next = pause_next * backoff
            if max_interval is not None:
                pause_next = min(pause_next, max_interval)
