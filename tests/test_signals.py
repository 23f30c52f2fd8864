"""``kill`` (SIGTERM) and a closed terminal (SIGHUP) stop run_all.py as Ctrl-C (SIGINT) does:
the "interrupted" line, exit status 130, and no lock or temporary file left behind -- while
it trains and attacks, while it writes a file, and while it waits on another run's lock.

Each test starts a real ``python run_all.py`` and reads its stderr until it is working.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sparsenet.repro.runner import Runner
from sparsenet.repro.sections.sweep import L1_SWEEP
from sparsenet.repro.settings import DATASET_KEY, Settings
from sparsenet.models import PRUNE_RULES

ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED = "interrupted: finished models and attacks are cached; run the same command again to resume"
SIGNALS = [pytest.param(getattr(signal, name), id=name) for name in ("SIGTERM", "SIGHUP", "SIGINT")
           if hasattr(signal, name)]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _default_signals():
    """In the child: SIGINT and SIGHUP as a terminal would deliver them, even when the tests
    run in the background (SIGINT ignored) or under nohup (SIGHUP ignored)."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class Run:
    """A child process whose stderr lines are collected by a thread."""

    def __init__(self, args, cwd=ROOT):
        self.proc = subprocess.Popen([sys.executable, *args], cwd=cwd, stderr=subprocess.PIPE, text=True,
                                     stdout=subprocess.DEVNULL, preexec_fn=_default_signals)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, fragment, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(fragment in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"no line with {fragment!r} (exit {self.proc.returncode}):\n" + "\n".join(self.lines))

    def finish(self, timeout=120):
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    def signal_once_it_says(self, fragment, sig, delay, timeout=240):
        """Wait for a line with ``fragment``, then ``delay`` seconds, send ``sig``; returns
        the exit status. The child is killed if anything goes wrong."""
        try:
            self.wait_for(fragment, timeout)
            time.sleep(delay)
            self.proc.send_signal(sig)
            return self.finish()
        finally:
            self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _leftovers(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                  if p.name.endswith(".lock") or p.name.startswith(".tmp-"))


def _check_stopped(run, code):
    assert code == 130, "\n".join(run.lines)
    assert run.lines[-1] == INTERRUPTED, "\n".join(run.lines)
    assert not any("Traceback" in line for line in run.lines), "\n".join(run.lines)


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_while_training_and_attacking_stops_cleanly(sig, tmp_path, mnist_dir, fashion_mnist_dir):
    run = Run(["run_all.py", "--quick", "--out", str(tmp_path)])
    code = run.signal_once_it_says("training ", sig, 1.0)    # the first network is training: locks, writes
    _check_stopped(run, code)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_while_writing_a_file_removes_the_temporary_file(sig, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
import run_all
from sparsenet import files

def main(argv=None):
    big = np.zeros(20_000_000, np.float32)        # 80 MB: most of the time goes into the write
    run_all.log("writing")
    while True:
        files.save_npz({str(tmp_path / 'out' / 'big.npz')!r}, a=big)
        files.write_json({str(tmp_path / 'out' / 'small.json')!r}, {{"a": 1}})

run_all.main = main
sys.exit(run_all.cli())
""")
    run = Run([str(script)])
    code = run.signal_once_it_says("writing", sig, 0.7, timeout=60)
    _check_stopped(run, code)
    assert _leftovers(tmp_path) == []


def test_a_run_waiting_on_another_runs_lock_stops_cleanly(tmp_path, mnist_dir, fashion_mnist_dir):
    """The first entry the quick run computes is locked by a live process ("another run"):
    the run waits for it, and SIGTERM stops the wait, leaving the other run's lock alone."""
    settings = Settings(quick=True)
    first = settings.fc2(next(iter(DATASET_KEY)), "sparse", l1=L1_SWEEP[0], rule=PRUNE_RULES[0],
                         seed=settings.fc2_seeds[0])
    path = Runner(cache_dir=tmp_path / "cache").model_path(first)
    path.parent.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "600"])
    lock = path.with_name(path.name + ".lock")
    lock.write_text(f"{other.pid} {socket.gethostname()}\n")
    run = Run(["run_all.py", "--quick", "--out", str(tmp_path)])
    try:
        code = run.signal_once_it_says(f"cache: waiting for {path.name}", signal.SIGTERM, 0.5)
    finally:
        other.kill()
        other.wait()
    _check_stopped(run, code)
    assert lock.read_text() == f"{other.pid} {socket.gethostname()}\n"     # not ours to remove
    lock.unlink()
    assert _leftovers(tmp_path) == []
