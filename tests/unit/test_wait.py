from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_poll_stops_at_the_deadline_with_a_short_last_sleep():
    clk = FakeClock()
    seen = list(poll(2.0, Deadline(5, clock=clk), sleep=clk.sleep))
    assert seen == [0.0, 2.0, 4.0, 5.0]


def test_unbounded_deadline_never_expires():
    d = Deadline(None)
    assert d.remaining() is None and not d.expired
