"""sparsenet.progress: a long call reports what is done and an ETA; a short one says nothing;
``log=None`` is silence; a log that is not a function is refused."""
import pytest

from sparsenet.progress import Progress, check_log, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_call_shorter_than_the_delay_prints_nothing():
    lines, clock = [], Clock()
    report = Progress("PGD", 10, lines.append, "images", delay=5, every=15, clock=clock)
    for done in range(1, 11):
        clock.now += 0.4
        report.update(done)
    report.finish()
    assert lines == []


def test_a_long_call_prints_after_the_delay_then_every_interval_with_an_eta():
    lines, clock = [], Clock()
    report = Progress("PGD", 100, lines.append, "images", delay=5, every=15, clock=clock)
    for done in range(1, 101):
        clock.now += 1.0
        report.update(done, "3 still robust")
    report.finish()
    # after 5 s (5 done: ETA 95 s), then at 20 s, 35 s, ... 95 s: 7 lines, and the last one
    assert len(lines) == 8
    assert lines[0] == "PGD: 5/100 images (5%), 5s so far, ETA 1m35s; 3 still robust"
    assert lines[1].startswith("PGD: 20/100 images (20%), 20s so far, ETA 1m20s")
    assert lines[-1] == "PGD: done in 1m40s"


def test_log_none_is_silence_and_a_bad_log_is_refused():
    clock = Clock()
    report = Progress("x", 10, None, clock=clock)
    clock.now += 100
    report.update(5)
    report.finish(always=True)              # nothing to call, nothing raised
    with pytest.raises(ValueError, match="log must be a function of one line of text, or None"):
        check_log("stderr")


def test_durations_read_as_a_person_writes_them():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3600, 7322)] == ["0s", "59s", "1m01s", "59m59s", "1h00m",
                                                                       "2h02m"]
