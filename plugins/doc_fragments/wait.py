# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Shared by every module that waits (kafka_lag_wait, kafka_mirror). Overrides O(timeout).
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Seconds to wait at most. On timeout the task fails and returns the partial result.
    type: float
    default: 600.0
  interval:
    description:
      - Seconds between two polls.
    type: float
    default: 5.0
  stable_for:
    description:
      - Seconds the awaited condition must hold without interruption before the wait ends.
    type: float
    default: 0.0
"""
