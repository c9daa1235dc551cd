# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the collection's core (re-exported by connection.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KafkaOpsError(Exception):
    """An error with a message fit for ``fail_json(msg=...)`` and optional structured details."""

    def __init__(self, msg, **details):
        super(KafkaOpsError, self).__init__(msg)
        self.msg = msg
        self.details = details
