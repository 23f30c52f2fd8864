"""Mutation testing for sparsenet, standard library only.

A *mutant* is one small plausible bug (an off-by-one, a wrong sign, a wrong axis, a dropped
term...) written as an exact snippet of a source file and its replacement (plus, optionally,
``alt``: the same bug in a later version of the code); the list is in ``mutants.py`` beside
this script. For each mutant the script

1. checks that the snippet occurs exactly once in the file (otherwise: ``n/a``);
2. writes the mutated file, runs the mutant's own pytest selection with ``-x``;
3. writes the original text back -- in a ``finally`` block, so also on an error, Ctrl-C or
   SIGTERM -- before it does anything else;

and prints a table: mutant id, file, description, ``killed`` / ``SURVIVED`` / ``n/a``.

A mutant may also list ``expect``: tests that must each fail on their own with it in place
(``--expect`` checks them): the deliberate mistakes that show a new test can fail.

By default it never touches the working tree: it copies the repository (the files the
tests need) into a scratch folder and mutates the copy, so people may keep editing the
real files meanwhile. ``--snapshot COMMIT`` builds the copy from a commit instead (e.g.
the tests as they were, to measure the score before new tests); ``--in-place`` mutates
the working tree itself (still restored after every mutant).

    python tests/mutation/mutate.py                      # every mutant
    python tests/mutation/mutate.py --modules optim losses --jobs 1
    python tests/mutation/mutate.py --exclude-modules layers frontend attacks report plots
    python tests/mutation/mutate.py --only optim-1 data-4 --show-output
    python tests/mutation/mutate.py --list
    python tests/mutation/mutate.py --expect --modules cache   # each listed test fails alone?

Exit status: 0 when every applicable mutant was killed, 1 when some survived, 130 on Ctrl-C.
Real-data tests need the datasets (``SPARSENET_DATA``); a selection whose unmutated run
fails or skips everything is reported as ``baseline fails`` and not counted.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# What a scratch copy needs for the test suite to run.
COPY = ("sparsenet", "tests", "docs", "run_all.py", "pyproject.toml", "README.md")
IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", ".tmp-*")


def load_mutants(path=HERE / "mutants.py"):
    spec = importlib.util.spec_from_file_location("sparsenet_mutants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = set()
    for m in module.MUTANTS:
        missing = {"id", "file", "original", "mutated", "tests", "what"} - set(m)
        if missing:
            raise SystemExit(f"mutant {m.get('id', '?')}: missing {sorted(missing)}")
        if m["id"] in seen:
            raise SystemExit(f"duplicate mutant id {m['id']}")
        if any(a == b for a, b in [(m["original"], m["mutated"])] + list(m.get("alt", ()))):
            raise SystemExit(f"mutant {m['id']}: a mutated snippet equals its original")
        seen.add(m["id"])
    return module.MUTANTS


def module_of(mutant):
    """``sparsenet/data.py`` -> "data"; a file of a subpackage -> the subpackage ("attacks")."""
    parts = Path(mutant["file"]).parts
    return parts[1] if len(parts) > 2 else Path(parts[-1]).stem


# -- the tree the mutants are applied to -------------------------------------------
def scratch_copy(snapshot=None):
    """A temporary copy of the repository: the working tree, or ``git archive snapshot``."""
    dest = Path(tempfile.mkdtemp(prefix="sparsenet-mutants-"))
    if snapshot:
        blob = subprocess.run(["git", "archive", "--format=tar", snapshot, *COPY], cwd=ROOT,
                              check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(dest)
    else:
        for name in COPY:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=IGNORE)
            elif src.exists():
                shutil.copy2(src, dest / name)
    return dest


def selection(tests, tree):
    """The pytest arguments that exist in ``tree``: node ids whose file is absent are dropped
    (an older snapshot may lack a new test file); ``-k`` expressions pass through."""
    out, i = [], 0
    while i < len(tests):
        t = tests[i]
        if t in ("-k", "-m"):
            out += [t, tests[i + 1]]
            i += 2
            continue
        if (tree / t.split("::")[0]).exists():
            out.append(t)
        i += 1
    return out


def run_pytest(tree, args, timeout):
    """(status, seconds, output): status is 'pass', 'fail', 'timeout' or 'no tests'."""
    cmd = [sys.executable, "-B", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "--no-header", "-o", "addopts=", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("SPARSENET_REQUIRE_DATA", None)   # a skipped real-data test is reported, not failed
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return "timeout", time.perf_counter() - start, out
    seconds = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        if re.search(r"\b\d+ passed\b", out) is None:     # everything skipped
            return "no tests", seconds, out
        return "pass", seconds, out
    if proc.returncode == 5:
        return "no tests", seconds, out
    return "fail", seconds, out


def first_failure(output):
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    if m:
        return m.group(1)
    m = re.search(r"^E\s+(.{0,80})", output, re.M)
    return m.group(1) if m else ""


class Restorer:
    """Puts the original text back. ``restore`` is idempotent, and runs from ``finally``
    and from the SIGTERM handler. In place, a file somebody edited meanwhile is left alone
    (and named) rather than overwritten."""

    def __init__(self, path, original, mutated, in_place):
        self.path, self.original, self.mutated, self.in_place = path, original, mutated, in_place
        self.done = False

    def restore(self):
        if self.done:
            return
        self.done = True
        if self.in_place and self.path.read_text() != self.mutated:
            print(f"\n!! {self.path} changed while a mutant was in it; NOT overwriting it. "
                  "Check it by hand.", file=sys.stderr, flush=True)
            return
        write_text(self.path, self.original)


def write_text(path, text):
    tmp = path.with_name(f".tmp-mutate-{os.getpid()}-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def locate(mutant, tree):
    """(None, (original, mutated)) for the snippet pair that occurs exactly once in the file --
    the one first written or an ``alt`` for a later version of the code -- else (why not, None)."""
    path = tree / mutant["file"]
    if not path.exists():
        return "file not found", None
    text = path.read_text()
    pairs = [(mutant["original"], mutant["mutated"])] + list(mutant.get("alt", ()))
    found = [(a, b) for a, b in pairs if text.count(a) == 1]
    if not found:
        return ("snippet not found" if {text.count(a) for a, _ in pairs} == {0} else "snippet not unique"), None
    if not [a for a in selection(mutant["tests"], tree) if not a.startswith("-")]:
        return "no test file of the selection exists here", None
    return None, found[0]


def apply_and_run(mutant, tree, timeout, in_place):
    path = tree / mutant["file"]
    problem, pair = locate(mutant, tree)
    if problem:
        return {"status": "n/a", "detail": problem}
    original = path.read_text()
    args = selection(mutant["tests"], tree)
    mutated = original.replace(*pair)
    restorer = Restorer(path, original, mutated, in_place)
    previous = signal.signal(signal.SIGTERM, lambda *_: (restorer.restore(), sys.exit(143)))
    try:
        write_text(path, mutated)
        status, seconds, output = run_pytest(tree, args, timeout)
    finally:
        restorer.restore()
        signal.signal(signal.SIGTERM, previous)
    result = {"status": {"fail": "killed", "timeout": "killed (timeout)", "pass": "SURVIVED",
                         "no tests": "no tests ran"}[status], "seconds": round(seconds, 1)}
    if status == "fail":
        result["detail"] = first_failure(output)
    result["output"] = output
    return result


def check_expectations(mutant, tree, timeout, in_place):
    """Deliberate-mistake mode: with the mutant in place, run each test of its ``expect`` list
    on its own; every one of them should fail. Returns [(node id, 'failed' / 'PASSED' / ...)]."""
    problem, pair = locate(mutant, tree)
    if problem:
        return [(node, f"n/a ({problem})") for node in mutant.get("expect", ())]
    path = tree / mutant["file"]
    original = path.read_text()
    mutated = original.replace(*pair)
    restorer = Restorer(path, original, mutated, in_place)
    previous = signal.signal(signal.SIGTERM, lambda *_: (restorer.restore(), sys.exit(143)))
    out = []
    try:
        write_text(path, mutated)
        for node in mutant.get("expect", ()):
            if not (tree / node.split("::")[0]).exists():
                out.append((node, "n/a (no such test file here)"))
                continue
            status = run_pytest(tree, [node], timeout)[0]
            out.append((node, {"fail": "failed", "timeout": "failed (timeout)", "pass": "PASSED"}.get(status, status)))
    finally:
        restorer.restore()
        signal.signal(signal.SIGTERM, previous)
    return out


@contextlib.contextmanager
def interruptible(tree, in_place, stop):
    """Ctrl-C ends the loop inside (``stop`` gets an entry; the mutant in progress has been
    restored by then) and the scratch copy is removed either way."""
    try:
        yield
    except KeyboardInterrupt:
        stop["interrupted"] = True
        print("\ninterrupted: the file of the mutant in progress was restored", file=sys.stderr)
    finally:
        if not in_place:
            shutil.rmtree(tree, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plant one mutant at a time and run its tests.")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutant ids")
    ap.add_argument("--modules", nargs="+", metavar="MODULE", help="only mutants of these modules (file stems)")
    ap.add_argument("--exclude-modules", nargs="+", default=[], metavar="MODULE",
                    help="skip mutants of these modules")
    ap.add_argument("--snapshot", metavar="COMMIT", help="mutate a copy of this commit, not of the working tree")
    ap.add_argument("--in-place", action="store_true",
                    help="mutate the working tree itself (restored after every mutant)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per pytest run (default 600)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--show-output", action="store_true", help="print pytest's output for survivors")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--expect", action="store_true",
                    help="deliberate-mistake mode: run each test of every mutant's 'expect' list alone, "
                         "with the mutant in place, and report which failed (all should)")
    args = ap.parse_args(argv)
    if args.in_place and args.snapshot:
        ap.error("--in-place and --snapshot exclude each other")

    mutants = load_mutants()
    if args.only:
        unknown = set(args.only) - {m["id"] for m in mutants}
        if unknown:
            ap.error(f"unknown mutant ids: {sorted(unknown)}")
        mutants = [m for m in mutants if m["id"] in args.only]
    if args.modules:
        mutants = [m for m in mutants if module_of(m) in args.modules]
    mutants = [m for m in mutants if module_of(m) not in args.exclude_modules]
    if args.list:
        for m in mutants:
            print(f"{m['id']:<14} {m['file']:<28} {m['what']}")
        print(f"{len(mutants)} mutants")
        return 0

    tree = ROOT if args.in_place else scratch_copy(args.snapshot)
    print(f"mutating {'the working tree' if args.in_place else f'a copy in {tree}'}"
          f"{f' (snapshot {args.snapshot})' if args.snapshot else ''}; {len(mutants)} mutants", flush=True)
    if args.expect:
        return expect_mode(mutants, tree, args)
    results, baselines, stop = [], {}, {}
    with interruptible(tree, args.in_place, stop):
        for i, m in enumerate(mutants, 1):
            key = tuple(selection(m["tests"], tree))
            problem, _ = locate(m, tree)
            if problem is None and key not in baselines:
                baselines[key] = run_pytest(tree, list(key), args.timeout)[0]
            if problem is None and baselines[key] != "pass":
                r = {"status": "baseline fails", "detail": f"unmutated selection: {baselines[key]}"}
            else:
                r = apply_and_run(m, tree, args.timeout, args.in_place)
            results.append((m, r))
            print(f"[{i}/{len(mutants)}] {m['id']:<14} {r['status']:<16} {r.get('seconds', '')!s:>6}s  "
                  f"{r.get('detail', '')}", flush=True)
            if args.show_output and r["status"] == "SURVIVED":
                print(r["output"])

    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"id": m["id"], "file": m["file"], "what": m["what"],
              **{k: v for k, v in r.items() if k != "output"}} for m, r in results], indent=1) + "\n")
    if stop:
        return 130
    return 1 if any(r["status"] == "SURVIVED" for _, r in results) else 0


def expect_mode(mutants, tree, args):
    rows, stop = [], {}
    with interruptible(tree, args.in_place, stop):
        for m in [m for m in mutants if m.get("expect")]:
            for node, status in check_expectations(m, tree, args.timeout, args.in_place):
                rows.append((m, node, status))
                print(f"{m['id']:<14} {status:<10} {node}", flush=True)
    print(f"\n| deliberate mistake | test | result\n|---|---|---")
    for m, node, status in rows:
        print(f"| {m['id']}: {m['what']} | {node.split('::')[-1]} | {status}")
    passed = [r for r in rows if r[2] == "PASSED"]
    print(f"\n{len(rows) - len(passed)} of {len(rows)} expected failures seen")
    if args.json:
        Path(args.json).write_text(json.dumps([{"id": m["id"], "what": m["what"], "test": node, "result": status}
                                               for m, node, status in rows], indent=1) + "\n")
    return 130 if stop else (1 if passed else 0)


def print_table(results):
    print()
    print(f"| {'id':<14} | {'file':<26} | {'mutant':<60} | result")
    print(f"|{'-' * 16}|{'-' * 28}|{'-' * 62}|{'-' * 20}")
    for m, r in results:
        what = m["what"] if len(m["what"]) <= 60 else m["what"][:57] + "..."
        detail = f" ({r['detail']})" if r.get("detail") and r["status"] != "killed" else ""
        print(f"| {m['id']:<14} | {m['file']:<26} | {what:<60} | {r['status']}{detail}")
    counted = [r for _, r in results if r["status"].startswith(("killed", "SURVIVED"))]
    killed = sum(r["status"].startswith("killed") for r in counted)
    skipped = len(results) - len(counted)
    if counted:
        print(f"\nkilled {killed} of {len(counted)} applicable mutants ({100 * killed / len(counted):.1f}%)"
              f"{f'; {skipped} not counted (n/a, no tests, baseline fails)' if skipped else ''}")


if __name__ == "__main__":
    sys.exit(main())
