"""Progress lines for the library's long calls: how much is done, the time so far, an ETA.

Every long call (the attacks, ``attacks.worst_case``, ``attacks.diagnose``, ``training.fit``,
``verify.exact``) takes ``log``: a function of one line of text, ``stderr`` by default, or None
for silence. A call that ends within ``DELAY`` seconds prints nothing; a longer one prints a
line after ``DELAY`` seconds and then at most every ``EVERY`` seconds, and a last line when it
ends.

    report = Progress("PGD", total=len(x), log=log, unit="images")
    for ...:
        report.update(done)          # cheap: only the clock is read between lines
    report.finish()
"""
from __future__ import annotations

import sys
import time

DELAY = 5.0      # seconds before the first line: short calls stay silent
EVERY = 15.0     # seconds between two lines


def stderr(line):
    """The default ``log``: one line to standard error, flushed at once."""
    print(line, file=sys.stderr, flush=True)


def check_log(log):
    """``log`` as given, after checking that it is None or callable."""
    if log is not None and not callable(log):
        raise ValueError(f"log must be a function of one line of text, or None for silence, got {log!r}")
    return log


def duration(seconds):
    """'7s', '3m05s' or '2h04m'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class Progress:
    """Progress of one call over ``total`` units of work (images, queries, epochs...).

    ``update(done, note="")`` reports ``done`` of ``total`` (with ``note`` appended) when
    a line is due; ``finish(note="")`` prints the last line if any line was printed (or
    ``always``). The ETA assumes the remaining units cost what the done ones did.
    """

    def __init__(self, what, total, log=stderr, unit="", delay=DELAY, every=EVERY, clock=time.perf_counter):
        self.what, self.total, self.log, self.unit = what, max(float(total), 0.0), check_log(log), unit
        self.delay, self.every, self.clock = delay, every, clock
        self.start = clock()
        self.next_line = self.start + delay
        self.printed = False
        self.done = 0.0

    def update(self, done, note=""):
        self.done = float(done)
        if self.log is None:
            return
        now = self.clock()
        if now < self.next_line:
            return
        self.next_line = now + self.every
        self.printed = True
        self.log(self._line(now, note))

    def finish(self, note="", always=False):
        if self.log is not None and (self.printed or always):
            self.done = self.total
            self.log(self._line(self.clock(), note, final=True))

    def _line(self, now, note, final=False):
        elapsed = now - self.start
        unit = f" {self.unit}" if self.unit else ""
        if final:
            text = f"{self.what}: done in {duration(elapsed)}"
        elif self.total > 0:
            share = min(self.done / self.total, 1.0)
            eta = elapsed / share * (1 - share) if share > 0 else None
            text = (f"{self.what}: {self.done:,.0f}/{self.total:,.0f}{unit} ({100 * share:.0f}%), "
                    f"{duration(elapsed)} so far, ETA {'?' if eta is None else duration(eta)}")
        else:
            text = f"{self.what}: {duration(elapsed)} so far"
        return f"{text}; {note}" if note else text
