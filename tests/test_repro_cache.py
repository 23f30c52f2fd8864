"""The experiment cache against what happens to files: corrupt entries are moved aside and
recomputed, killed runs' temporary files and locks are cleared, and two runs sharing a cache
compute each entry once (checked with two real processes)."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sparsenet.repro import cache, runner as experiments
from sparsenet.repro.sections import theory as theory_study
from sparsenet.repro.settings import Settings
from sparsenet.repro.runner import Runner
from sparsenet.repro.specs import AttackSpec, TrainSpec, as_json
from sparsenet.checkpoints import save_checkpoint
from sparsenet.models import fc2

ROOT = Path(__file__).resolve().parent.parent
SPEC = AttackSpec(TrainSpec("fc2", "mnist", binary=True), "fgsm", eps=0.1)


def dead_pid():
    """The pid of a process that has exited (and was reaped)."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(out.stdout)


def fake_attacks(tmp_path, monkeypatch):
    """A Context whose attacks cost nothing: (ctx, log lines, keys of the attacks run)."""
    calls, logs = [], []

    def fake_run_attack(clf, x, y, spec, log=None, **kw):
        calls.append(spec.key())
        return x, {}

    monkeypatch.setattr(experiments, "run_attack", fake_run_attack)
    monkeypatch.setattr(experiments.attacks, "evaluate", lambda *a, **k: dict(FAKE_RESULT))
    ctx = Runner(cache_dir=tmp_path, log=logs.append)
    monkeypatch.setattr(ctx, "classifier", lambda spec, gradient="exact": None)
    monkeypatch.setattr(ctx.datasets, "test_set", lambda spec, n=None: (np.zeros((2, 28, 28)), np.zeros(2, int)))
    return ctx, logs, calls


def fake_training(ctx, monkeypatch):
    trained = []

    def train(spec, datasets, log, matrix=None):
        trained.append(spec.key())
        return fc2(seed=7), {"spec": as_json(spec), "train_seconds": 0.0, "test_accuracy": 0.5}

    monkeypatch.setattr(experiments, "train_network", train)
    return trained


# -- corrupt entries ----------------------------------------------------------------------
CORRUPT_JSON = {
    "empty": (b"", "empty file"),
    "truncated": (b'{"robust_accuracy": 0.5, "spec": {"attack": "fg', "not valid JSON"),
    "not-utf8": (b'{"label": "\xff\xfe"}', "not UTF-8"),
    "array": (b"[0.5, 0.7]", "an array, not an object"),
    "string": (b'"robust"', "a string, not an object"),
    "no-result": (b'{"spec": {}}', "no robust_accuracy, adversarial_accuracy, clean, correct"),
    "old-result": (b'{"spec": {}, "robust_accuracy": 0.5, "correct": [true]}', "no adversarial_accuracy, clean"),
}
FAKE_RESULT = {"robust_accuracy": 0.5, "adversarial_accuracy": 0.5, "clean": [True], "correct": [True]}


@pytest.mark.parametrize("case", sorted(CORRUPT_JSON))
def test_corrupt_attack_result_is_moved_aside_logged_and_recomputed(tmp_path, monkeypatch, case):
    content, reason = CORRUPT_JSON[case]
    ctx, logs, calls = fake_attacks(tmp_path, monkeypatch)
    path = ctx.attack_path(SPEC)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = ctx.attack(SPEC)
    assert result["robust_accuracy"] == 0.5 and len(calls) == 1
    assert path.with_name(path.name + ".corrupt").read_bytes() == content      # kept for a look
    assert json.loads(path.read_text())["spec"] == as_json(SPEC)              # recomputed, rewritten
    notes = [line for line in logs if str(path) in line]
    assert len(notes) == 1 and reason in notes[0] and ".corrupt" in notes[0], logs
    assert ctx.attack(SPEC) == result and len(calls) == 1                      # and reused afterwards


def test_attack_result_of_other_settings_is_recomputed_with_a_log_line(tmp_path, monkeypatch):
    ctx, logs, calls = fake_attacks(tmp_path, monkeypatch)
    ctx.attack(SPEC)
    path = ctx.attack_path(SPEC)
    stale = json.loads(path.read_text())
    stale["spec"]["eps"] = 0.3
    path.write_text(json.dumps(stale))
    ctx.attack(SPEC)
    assert len(calls) == 2 and any("other settings" in line and path.name in line for line in logs)
    assert not path.with_name(path.name + ".corrupt").exists()                  # not corrupt, just stale


@pytest.mark.parametrize("damage", ["empty", "truncated", "junk", "object-array"])
def test_corrupt_cached_model_is_moved_aside_logged_and_retrained(tmp_path, monkeypatch, damage):
    ctx, logs, _ = fake_attacks(tmp_path, monkeypatch)
    trained = fake_training(ctx, monkeypatch)
    spec = SPEC.model
    path = ctx.model_path(spec)
    save_checkpoint(path, fc2(), {"spec": as_json(spec)})
    good = path.read_bytes()
    if damage == "object-array":
        np.savez(path.with_suffix(""), x=np.array([{"a": 1}], dtype=object))
    else:
        path.write_bytes({"empty": b"", "truncated": good[:len(good) // 2], "junk": b"<html>503</html>"}[damage])
    bad = path.read_bytes()
    net = ctx.model(spec)
    assert len(trained) == 1
    np.testing.assert_array_equal(net.parameters()[0], fc2(seed=7).parameters()[0])
    assert path.with_name(path.name + ".corrupt").read_bytes() == bad
    notes = [line for line in logs if str(path) in line]
    assert len(notes) == 1 and "unreadable" in notes[0] and "pickle" not in notes[0], logs
    assert ctx.model_info(spec)["test_accuracy"] == 0.5 and len(trained) == 1   # the new file is read back


def test_cached_model_of_other_settings_is_retrained(tmp_path, monkeypatch):
    ctx, logs, _ = fake_attacks(tmp_path, monkeypatch)
    trained = fake_training(ctx, monkeypatch)
    spec = SPEC.model
    save_checkpoint(ctx.model_path(spec), fc2(), {"spec": as_json(TrainSpec("fc2", "mnist", seed=3))})
    ctx.model(spec)
    assert len(trained) == 1 and any("other settings; retraining" in line for line in logs)


def fake_theory(tmp_path, monkeypatch, calls):
    """theory_results with every computation replaced by a constant (and counted)."""
    monkeypatch.setattr(theory_study.theory, "high_snr_fraction", lambda *a, **k: calls.append(1) or 0.5)
    monkeypatch.setattr(theory_study, "theorem2_measured", lambda *a: [{"eps": 0.1}])
    monkeypatch.setattr(theory_study, "flips_measured", lambda *a: [])
    monkeypatch.setattr(theory_study.theory, "certified_radius", lambda *a: np.ones(3))
    monkeypatch.setattr(theory_study.theory, "gammas", lambda *a: np.ones(2))
    logs = []

    class Ctx:
        cache_dir, log = tmp_path, logs.append
        model = classifier = staticmethod(lambda spec, *a: None)

        class datasets:
            test_set = staticmethod(lambda spec, n=None: (np.zeros((3, 28, 28)), np.zeros(3, int)))

    return Ctx(), logs


@pytest.mark.parametrize("case", ["empty", "truncated", "not-utf8", "array", "no-result"])
def test_corrupt_theory_cache_is_moved_aside_and_recomputed(tmp_path, monkeypatch, case):
    calls = []
    ctx, logs = fake_theory(tmp_path, monkeypatch, calls)
    s = Settings(quick=True)
    first = theory_study.measure(ctx, s)
    n = len(calls)
    assert theory_study.measure(ctx, s) == first and len(calls) == n     # cached
    path, = (tmp_path / "theory").glob("theory-*.json")
    content = CORRUPT_JSON[case][0]
    path.write_bytes(content)
    again = theory_study.measure(ctx, s)
    assert len(calls) == 2 * n and again.pop("wall_seconds") >= 0
    assert again == {k: v for k, v in first.items() if k != "wall_seconds"}
    assert path.with_name(path.name + ".corrupt").read_bytes() == content
    assert sum(str(path) in line for line in logs) == 1


# -- temporary files of killed runs -------------------------------------------------------
def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    ctx, logs, _ = fake_attacks(tmp_path, monkeypatch)
    folder = ctx.attack_path(SPEC).parent
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = {"dead": f".tmp-{dead_pid()}-x.json-abc", "mine": f".tmp-{os.getpid()}-y.json-abc",
                 "other-live": f".tmp-{sleeper.pid}-z.json-abc",
                 "old-no-pid": ".tmp-w.json-abc", "new-no-pid": ".tmp-v.json-abc"}
        for name in names.values():
            (folder / name).write_text("partial")
        two_minutes_ago = time.time() - 120
        for key in ("dead", "old-no-pid", "mine", "other-live"):
            os.utime(folder / names[key], (two_minutes_ago, two_minutes_ago))
        ctx.attack(SPEC)
    finally:
        sleeper.kill()
        sleeper.wait()
    left = {p.name for p in folder.iterdir()}
    assert names["dead"] not in left and names["old-no-pid"] not in left
    assert {names["mine"], names["other-live"], names["new-no-pid"]} <= left
    assert any("removed 2 temporary file(s)" in line and str(folder) in line for line in logs), logs


def test_pid_running():
    assert cache.pid_running(os.getpid())
    assert not cache.pid_running(dead_pid())
    assert not cache.pid_running(0) and not cache.pid_running(-5)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_run_not_yet_reaped_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)                                   # not reaped: a zombie
    assert not cache.pid_running(child.pid)
    child.wait()


# -- locks --------------------------------------------------------------------------------
def test_lock_file_holds_the_owner_and_is_removed_after(tmp_path):
    entry = tmp_path / "entry.json"
    with cache.entry_lock(entry) as lock:
        assert lock == tmp_path / "entry.json.lock"
        assert lock.read_text().split() == [str(os.getpid()), socket.gethostname()]
    assert not lock.exists()


def test_a_stale_lock_of_a_dead_process_is_broken_with_a_log_line(tmp_path):
    entry, logs = tmp_path / "entry.json", []
    lock = cache.lock_path(entry)
    pid = dead_pid()
    lock.write_text(f"{pid} {socket.gethostname()}\n")
    start = time.monotonic()
    with cache.entry_lock(entry, logs.append, timeout=5):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert time.monotonic() - start < 2
    assert len(logs) == 1 and "stale lock" in logs[0] and str(pid) in logs[0] and str(lock) in logs[0]


def test_a_lock_with_our_pid_that_we_do_not_hold_is_stale(tmp_path):
    """Pids are reused (a container restarts at low pids): a lock naming our own pid that this
    process does not hold was left by an earlier process, and is broken, not waited for forever."""
    entry, logs = tmp_path / "entry.json", []
    cache.lock_path(entry).write_text(f"{os.getpid()} {socket.gethostname()}\n")
    with cache.entry_lock(entry, logs.append, timeout=5):
        pass
    assert len(logs) == 1 and "stale lock" in logs[0]


def test_a_live_lock_is_waited_for(tmp_path):
    entry, logs = tmp_path / "entry.json", []
    lock = cache.lock_path(entry)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.write_text(f"{sleeper.pid} {socket.gethostname()}\n")
        threading.Timer(0.6, lock.unlink).start()          # the other run finishes
        start = time.monotonic()
        with cache.entry_lock(entry, logs.append, timeout=10, poll=0.05):
            waited = time.monotonic() - start
    finally:
        sleeper.kill()
        sleeper.wait()
    assert waited >= 0.5
    assert len(logs) == 1 and "waiting for entry.json" in logs[0] and str(sleeper.pid) in logs[0]


@pytest.mark.parametrize("content", ["{pid} {host}\n", "12345 another-machine\n"])
def test_a_lock_that_cannot_be_proven_stale_times_out_with_its_name(tmp_path, content):
    entry = tmp_path / "entry.json"
    lock = cache.lock_path(entry)
    lock.write_text(content.format(pid=os.getppid(), host=socket.gethostname()))
    with pytest.raises(cache.CacheLockTimeout, match=str(lock)):
        with cache.entry_lock(entry, timeout=0.3, poll=0.05):
            pass
    assert lock.exists()                                    # somebody else's lock is never removed


def test_a_lock_retaken_since_it_was_seen_stale_is_not_broken(tmp_path, monkeypatch):
    """Two runs see the same dead owner; the first breaks the lock and takes it; the second
    must then leave the new, live lock alone (it re-checks the owner before removing)."""
    entry = tmp_path / "entry.json"
    lock = cache.lock_path(entry)
    host, dead, live = socket.gethostname(), dead_pid(), os.getppid()
    lock.write_text(f"{dead} {host}\n")
    pid_running, retaken = cache.pid_running, []

    def seen_dead_then_retaken(pid):
        if pid == dead and not retaken:       # this run has just seen the owner dead; meanwhile
            lock.write_text(f"{live} {host}\n")   # another run breaks the lock and takes it
            retaken.append(pid)
            return False
        return pid_running(pid)
    monkeypatch.setattr(cache, "pid_running", seen_dead_then_retaken)
    with pytest.raises(cache.CacheLockTimeout, match=f"process {live} "):
        with cache.entry_lock(entry, timeout=0.3, poll=0.05):
            pass
    assert retaken and lock.read_text().split()[0] == str(live)     # the live run's lock is left alone
    lock.write_text(f"{dead} {host}\n")                            # still the dead owner: broken
    with cache.entry_lock(entry, timeout=2, poll=0.05):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert not lock.exists()


def test_an_empty_lock_file_is_stale_only_once_old(tmp_path):
    entry = tmp_path / "entry.json"
    lock = cache.lock_path(entry)
    lock.write_text("")
    with pytest.raises(cache.CacheLockTimeout):
        with cache.entry_lock(entry, timeout=0.3, poll=0.05):
            pass
    old = time.time() - 60
    os.utime(lock, (old, old))
    with cache.entry_lock(entry, timeout=2, poll=0.05):
        pass


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from sparsenet import files
from sparsenet.repro import cache
path, counter = sys.argv[1], sys.argv[2]

def compute():
    with open(counter, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(1.5)                      # long enough for the other process to arrive
    files.write_json(path, {"value": 42, "by": os.getpid()})
    return cache.read_json(path, None)

log = lambda msg: print(msg, file=sys.stderr, flush=True)
print(json.dumps(cache.get_or_compute(path, lambda lg: cache.read_json(path, lg), compute, log)))
"""


def run_two(script, *args):
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-c", script, *map(str, args), str(ROOT)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    return outs


def test_two_processes_compute_a_shared_entry_once(tmp_path):
    path, counter = tmp_path / "entry.json", tmp_path / "computed-by"
    outs = run_two(CHILD, path, counter)
    assert len(counter.read_text().split()) == 1                      # computed once
    first, second = (json.loads(out) for out, _ in outs)
    assert first == second == {"value": 42, "by": int(counter.read_text())}
    assert "waiting for entry.json" in outs[1][1]
    assert not cache.lock_path(path).exists()


CHILD_ATTACK = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np
from sparsenet.repro import runner as experiments
from sparsenet.repro.runner import Runner
from sparsenet.repro.specs import AttackSpec, TrainSpec

def fake_run_attack(clf, x, y, spec, log=None, **kw):
    with open(sys.argv[2], "a") as f:
        f.write("run\n")
    time.sleep(1.5)
    return x, {}

experiments.run_attack = fake_run_attack
experiments.attacks.evaluate = lambda *a, **k: {"robust_accuracy": 0.25, "adversarial_accuracy": 0.25,
                                                "clean": [True], "correct": [True]}
ctx = Runner(cache_dir=sys.argv[1], log=lambda m: print(m, file=sys.stderr, flush=True))
ctx.classifier = lambda spec, gradient="exact": None
ctx.datasets.test_set = lambda spec, n=None: (np.zeros((2, 28, 28)), np.zeros(2, int))
print(ctx.attack(AttackSpec(TrainSpec("fc2", "mnist", binary=True), "fgsm", eps=0.1))["robust_accuracy"])
"""


def test_two_runs_sharing_a_cache_run_an_attack_once(tmp_path):
    counter = tmp_path / "runs"
    outs = run_two(CHILD_ATTACK, tmp_path / "cache", counter)
    assert counter.read_text() == "run\n"
    assert [out.strip() for out, _ in outs] == ["0.25", "0.25"]


def test_the_theory_section_measures_table2s_chosen_sparse_network(tmp_path, monkeypatch):
    """Theorem 2 and the certified radius are measured on the sparse network Table 2 reports
    (its chosen l1 and pruning rule), not on a default one."""
    ctx, _ = fake_theory(tmp_path, monkeypatch, [])
    seen = []
    ctx.model = lambda spec, *a: seen.append(spec)
    s = Settings(quick=True)
    chosen = {"mnist": (0.3, "neuron"), "fashion-mnist": (0.01, "global")}
    out = theory_study.measure(ctx, s, chosen)
    sparse = [spec for spec in seen if spec.defense == "sparse"]
    assert sparse and all((spec.l1, spec.prune_rule) == (0.3, "neuron") for spec in sparse)
    assert out["spec"]["theory/fc2-mnist/sparse"]["prune_rule"] == "neuron"
